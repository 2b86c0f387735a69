//! Splits pool_hba.conf lines into fields and records, as PostgreSQL's hba tokenizer does.

use super::address::Address;
use super::{ConnType, HbaParseError, HbaRule, Method, NameMatch};

/// One token: its text with quotes removed, and whether any part of it was quoted (a quoted
/// `"all"` is a name, not the keyword).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub text: String,
    pub quoted: bool,
}

impl Token {
    fn is_keyword(&self, keyword: &str) -> bool {
        !self.quoted && self.text == keyword
    }
}

/// A field is one token, or several joined by commas (`db1,db2`, `db1, "my db"`).
type Field = Vec<Token>;

/// Splits a line into fields. `#` outside quotes ends the line; `""` inside quotes is a quote.
pub(super) fn split_fields(line: &str) -> Result<Vec<Field>, HbaParseError> {
    let mut chars = line.chars().peekable();
    let mut fields = Vec::new();
    let mut field: Field = Vec::new();
    loop {
        // Skip blanks and commas before a token (PostgreSQL's next_token does the same).
        while chars
            .next_if(|&c| c == ' ' || c == '\t' || c == '\r' || c == ',')
            .is_some()
        {}
        let mut token = Token {
            text: String::new(),
            quoted: false,
        };
        let mut in_quote = false;
        let mut comma = false;
        while let Some(&c) = chars.peek() {
            if !in_quote && (c == ' ' || c == '\t' || c == '\r') {
                break;
            }
            chars.next();
            match c {
                '#' if !in_quote => {
                    chars.by_ref().for_each(drop);
                    break;
                }
                ',' if !in_quote => {
                    comma = true;
                    break;
                }
                '"' if in_quote && chars.peek() == Some(&'"') => {
                    chars.next();
                    token.text.push('"');
                }
                '"' => {
                    in_quote = !in_quote;
                    token.quoted = true;
                }
                other => token.text.push(other),
            }
        }
        if in_quote {
            return Err(HbaParseError::UnterminatedQuote);
        }
        let empty = token.text.is_empty() && !token.quoted;
        if !empty {
            field.push(token);
        }
        if !comma && !field.is_empty() {
            fields.push(std::mem::take(&mut field));
        }
        if chars.peek().is_none() {
            if !field.is_empty() {
                fields.push(field);
            }
            return Ok(fields);
        }
    }
}

fn single<'a>(field: Option<&'a Field>, what: &'static str) -> Result<&'a Token, HbaParseError> {
    match field.map(Vec::as_slice) {
        Some([token]) => Ok(token),
        Some(_) => Err(HbaParseError::MultipleValues(what)),
        None => Err(HbaParseError::MissingField(what)),
    }
}

fn names(field: Option<&Field>, what: &'static str) -> Result<Vec<NameMatch>, HbaParseError> {
    let field = field.ok_or(HbaParseError::MissingField(what))?;
    field
        .iter()
        .map(|t| {
            if t.is_keyword("all") {
                Ok(NameMatch::All)
            } else if what == "database" && t.is_keyword("sameuser") {
                Ok(NameMatch::SameUser)
            } else if !t.quoted
                && ["samegroup", "samerole", "replication"].contains(&t.text.as_str())
            {
                Err(HbaParseError::Unsupported(format!(
                    "\"{}\" (Pgpool-II cannot see backend roles)",
                    t.text
                )))
            } else if !t.quoted && t.text.starts_with('@') {
                Err(HbaParseError::Unsupported(format!(
                    "\"{}\" (@file inclusion)",
                    t.text
                )))
            } else if !t.quoted && what == "user" && t.text.starts_with('+') {
                Err(HbaParseError::Unsupported(format!(
                    "\"{}\" (+group membership)",
                    t.text
                )))
            } else {
                Ok(NameMatch::Name(t.text.clone()))
            }
        })
        .collect()
}

fn method(token: &Token) -> Result<Method, HbaParseError> {
    Ok(match token.text.as_str() {
        "trust" => Method::Trust,
        "reject" => Method::Reject,
        "password" => Method::Password,
        "md5" => Method::Md5,
        "scram-sha-256" => Method::ScramSha256,
        "cert" => Method::Cert,
        "pam" | "ldap" => {
            return Err(HbaParseError::UnsupportedMethod(token.text.clone()));
        }
        other => return Err(HbaParseError::UnknownMethod(other.to_owned())),
    })
}

/// Parses one non-empty line's fields into a rule.
pub(super) fn parse_record(fields: &[Field], line: usize) -> Result<HbaRule, HbaParseError> {
    let conn = single(fields.first(), "connection type")?;
    let conn_type = match conn.text.as_str() {
        "local" => ConnType::Local,
        "host" => ConnType::Host,
        "hostssl" => ConnType::HostSsl,
        "hostnossl" => ConnType::HostNoSsl,
        "hostgssenc" | "hostnogssenc" => {
            return Err(HbaParseError::Unsupported(format!(
                "\"{}\" (no GSSAPI)",
                conn.text
            )));
        }
        other => return Err(HbaParseError::UnknownConnType(other.to_owned())),
    };
    let databases = names(fields.get(1), "database")?;
    let users = names(fields.get(2), "user")?;

    let (address, method_at) = if conn_type == ConnType::Local {
        (None, 3)
    } else {
        let token = single(fields.get(3), "address")?;
        match token.text.as_str() {
            "all" if !token.quoted => (Some(Address::All), 4),
            "samehost" if !token.quoted => (Some(Address::SameHost), 4),
            "samenet" if !token.quoted => (Some(Address::SameNet), 4),
            text if text.contains('/') => (Some(Address::parse_net(text, None)?), 4),
            text => {
                // `ip mask` takes two fields; a host name fails inside parse_net.
                let mask = fields.get(4).map(|f| single(Some(f), "mask")).transpose()?;
                (
                    Some(Address::parse_net(text, mask.map(|m| m.text.as_str()))?),
                    5,
                )
            }
        }
    };
    let method = method(single(fields.get(method_at), "authentication method")?)?;
    if let Some(option) = fields.get(method_at + 1).and_then(|f| f.first()) {
        return Err(HbaParseError::UnknownOption(option.text.clone()));
    }
    if method == Method::Cert && conn_type != ConnType::HostSsl {
        return Err(HbaParseError::CertWithoutSsl);
    }
    Ok(HbaRule {
        line,
        conn_type,
        databases,
        users,
        address,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<Vec<(String, bool)>> {
        split_fields(line)
            .unwrap()
            .into_iter()
            .map(|f| f.into_iter().map(|t| (t.text, t.quoted)).collect())
            .collect()
    }

    fn plain(items: &[&[&str]]) -> Vec<Vec<(String, bool)>> {
        items
            .iter()
            .map(|f| f.iter().map(|t| ((*t).to_owned(), false)).collect())
            .collect()
    }

    #[test]
    fn fields_split_on_blanks_and_lists_on_commas() {
        assert_eq!(
            texts("host all all 127.0.0.1/32 trust"),
            plain(&[&["host"], &["all"], &["all"], &["127.0.0.1/32"], &["trust"]])
        );
        assert_eq!(
            texts("local\tdb1,db2  u trust # c"),
            plain(&[&["local"], &["db1", "db2"], &["u"], &["trust"]])
        );
        assert_eq!(
            texts("local db1, db2 u trust"),
            plain(&[&["local"], &["db1", "db2"], &["u"], &["trust"]])
        );
        assert!(texts("   # only a comment").is_empty());
        assert!(texts("").is_empty());
    }

    #[test]
    fn quotes_protect_spaces_commas_and_keywords() {
        let fields = texts(r#"local "my db","all" "a""b" trust"#);
        assert_eq!(
            fields[1],
            [("my db".to_owned(), true), ("all".to_owned(), true)]
        );
        assert_eq!(fields[2], [("a\"b".to_owned(), true)]);
        assert_eq!(
            texts(r##"local "#x" u trust"##)[1],
            [("#x".to_owned(), true)]
        );
        assert_eq!(
            split_fields(r#"local "open u trust"#),
            Err(HbaParseError::UnterminatedQuote)
        );
    }
}
