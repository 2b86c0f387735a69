//! The watchdog's settings: corepool's etcd parameters and the Pgpool-II watchdog parameters
//! that keep their meaning when instances coordinate through etcd.

use std::time::Duration;

/// `use_watchdog = on`: how this instance joins the others through etcd.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogSettings {
    /// `etcd_endpoints`: `http://host:port` or `https://host:port` URLs of etcd members.
    pub etcd_endpoints: Vec<String>,
    /// `etcd_prefix`: every key of one corepool cluster lives under it.
    pub etcd_prefix: String,
    /// `etcd_username`: etcd user (empty: etcd without authentication).
    pub etcd_username: String,
    /// `etcd_password_file`: a file whose first line is the etcd user's password; the
    /// environment variable `COREPOOL_ETCD_PASSWORD` is read when this is empty.
    pub etcd_password_file: String,
    /// `etcd_cacert`: PEM file of the CA that signed the etcd members' certificates.
    pub etcd_cacert: String,
    /// `etcd_cert`: PEM client certificate for etcd (with `etcd_key`).
    pub etcd_cert: String,
    /// `etcd_key`: PEM private key of `etcd_cert`.
    pub etcd_key: String,
    /// `etcd_instance_name`: this instance's name among the others (empty: `hostname:port`).
    pub instance_name: String,
    /// `etcd_lease_ttl`: how long this instance's keys outlive it (replaces the heartbeat).
    pub lease_ttl: Duration,
    /// `failover_when_quorum_exists`: fail over only while most instances are alive.
    pub failover_when_quorum_exists: bool,
    /// `failover_require_consensus`: fail over only when most instances see the node down.
    pub failover_require_consensus: bool,
    /// `allow_multiple_failover_requests_from_node`: an instance's repeated reports count as
    /// several votes.
    pub allow_multiple_failover_requests_from_node: bool,
    /// `enable_consensus_with_half_votes`: with an even number of instances, half is enough.
    pub enable_consensus_with_half_votes: bool,
    /// `wd_escalation_command`: run when this instance becomes the leader.
    pub escalation_command: String,
    /// `wd_de_escalation_command`: run when it stops being the leader.
    pub de_escalation_command: String,
    /// `delegate_ip`: the virtual IP the leader holds (empty: none).
    pub delegate_ip: String,
    /// `if_cmd_path`: directory of `if_up_cmd` / `if_down_cmd` when they are not absolute.
    pub if_cmd_path: String,
    /// `if_up_cmd`: brings the virtual IP up (`$_IP_$` is replaced by it).
    pub if_up_cmd: String,
    /// `if_down_cmd`: brings the virtual IP down.
    pub if_down_cmd: String,
    /// `arping_path`: directory of `arping_cmd` when it is not absolute.
    pub arping_path: String,
    /// `arping_cmd`: announces the virtual IP after it moved.
    pub arping_cmd: String,
    /// `wd_priority`: instances with a higher priority stand for leader first.
    pub priority: u32,
}

impl Default for WatchdogSettings {
    fn default() -> Self {
        Self {
            etcd_endpoints: vec!["http://127.0.0.1:2379".to_owned()],
            etcd_prefix: "/corepool/default".to_owned(),
            etcd_username: String::new(),
            etcd_password_file: String::new(),
            etcd_cacert: String::new(),
            etcd_cert: String::new(),
            etcd_key: String::new(),
            instance_name: String::new(),
            lease_ttl: Duration::from_secs(10),
            failover_when_quorum_exists: true,
            failover_require_consensus: true,
            allow_multiple_failover_requests_from_node: false,
            enable_consensus_with_half_votes: false,
            escalation_command: String::new(),
            de_escalation_command: String::new(),
            delegate_ip: String::new(),
            if_cmd_path: "/sbin".to_owned(),
            if_up_cmd: "/usr/bin/sudo /sbin/ip addr add $_IP_$/24 dev eth0 label eth0:0".to_owned(),
            if_down_cmd: "/usr/bin/sudo /sbin/ip addr del $_IP_$/24 dev eth0".to_owned(),
            arping_path: "/usr/sbin".to_owned(),
            arping_cmd: "/usr/bin/sudo /usr/sbin/arping -U $_IP_$ -w 1 -I eth0".to_owned(),
            priority: 1,
        }
    }
}
