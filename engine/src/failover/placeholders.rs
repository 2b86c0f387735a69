//! `%` placeholders of failover_command, follow_primary_command and failback_command, expanded
//! as Pgpool-II 4.3's `trigger_failover_command` does.

/// The values a failover command's placeholders stand for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// `%d`: id of the node detached, attached, or told to follow.
    pub node_id: i32,
    /// `%h`: its host.
    pub host: String,
    /// `%p`: its port.
    pub port: u16,
    /// `%D`: its data directory.
    pub data_dir: String,
    /// `%m`: the new main node's id (the new primary for follow_primary_command), −1 if none.
    pub new_main_id: i32,
    /// `%H`: the new main node's host (empty if none).
    pub new_main_host: String,
    /// `%r`: the new main node's port (empty if none).
    pub new_main_port: Option<u16>,
    /// `%R`: the new main node's data directory (empty if none).
    pub new_main_data_dir: String,
    /// `%M`: the old main node's id.
    pub old_main_id: i32,
    /// `%P`: the old primary's id (−1 if there was none).
    pub old_primary_id: i32,
    /// `%N`: the old primary's host (empty if none).
    pub old_primary_host: String,
    /// `%S`: the old primary's port (empty if none).
    pub old_primary_port: Option<u16>,
}

impl Placeholders {
    /// Expands every placeholder of `template`. `%%` is a literal `%`; an unknown `%x` and a
    /// trailing `%` are dropped, as pgpool drops them.
    pub fn expand(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(code) = chars.next() else { break };
            match code {
                'd' => out.push_str(&self.node_id.to_string()),
                'h' => out.push_str(&self.host),
                'p' => out.push_str(&self.port.to_string()),
                'D' => out.push_str(&self.data_dir),
                'm' => out.push_str(&self.new_main_id.to_string()),
                'H' => out.push_str(&self.new_main_host),
                'r' => push_port(&mut out, self.new_main_port),
                'R' => out.push_str(&self.new_main_data_dir),
                'M' => out.push_str(&self.old_main_id.to_string()),
                'P' => out.push_str(&self.old_primary_id.to_string()),
                'N' => out.push_str(&self.old_primary_host),
                'S' => push_port(&mut out, self.old_primary_port),
                '%' => out.push('%'),
                _ => {}
            }
        }
        out
    }
}

fn push_port(out: &mut String, port: Option<u16>) {
    if let Some(p) = port {
        out.push_str(&p.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Placeholders {
        Placeholders {
            node_id: 0,
            host: "db0".into(),
            port: 5432,
            data_dir: "/data0".into(),
            new_main_id: 1,
            new_main_host: "db1".into(),
            new_main_port: Some(5433),
            new_main_data_dir: "/data1".into(),
            old_main_id: 0,
            old_primary_id: 0,
            old_primary_host: "db0".into(),
            old_primary_port: Some(5432),
        }
    }

    #[test]
    fn every_placeholder_expands() {
        let got = sample().expand("%d %h %p %D %m %H %M %P %r %R %N %S %%");
        assert_eq!(got, "0 db0 5432 /data0 1 db1 0 0 5433 /data1 db0 5432 %");
    }

    #[test]
    fn no_new_main_gives_minus_one_and_empty_fields() {
        let p = Placeholders {
            new_main_id: -1,
            new_main_host: String::new(),
            new_main_port: None,
            new_main_data_dir: String::new(),
            ..sample()
        };
        assert_eq!(p.expand("[%m][%H][%r][%R]"), "[-1][][][]");
    }

    #[test]
    fn unknown_and_trailing_percent_are_dropped() {
        assert_eq!(sample().expand("a%xb%"), "ab");
        assert_eq!(sample().expand("100%% %d"), "100% 0");
        assert_eq!(sample().expand("ü%dü"), "ü0ü");
    }
}
