//! The moto launcher (`tests/aws/moto_server.py`) as a test fixture: a fake
//! Route 53 and ELBv2 on a free port, steered over stdin, killed on drop.

use crate::support::{ready_port, require_python_modules};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

pub struct Moto {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let mut child = Command::new(require_python_modules(&["boto3", "moto.server"]))
            .arg("tests/aws/moto_server.py")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/aws/moto_server.py");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let port = ready_port(&mut child, &mut stdout, "tests/aws/moto_server.py", false);
        Moto {
            child,
            stdin,
            stdout,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Sends one control command; returns the JSON of an `OK <json>` reply (or Null).
    pub fn cmd(&mut self, c: Value) -> Value {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let rest = line
            .trim()
            .strip_prefix("OK")
            .unwrap_or_else(|| panic!("moto refused {c}: {line}"));
        serde_json::from_str(rest.trim()).unwrap_or(Value::Null)
    }

    /// AWS requests per operation since the last `stats_reset`.
    pub fn stats(&mut self) -> Value {
        self.cmd(serde_json::json!({"cmd": "stats"}))
    }

    pub fn count(&mut self, op: &str) -> u64 {
        self.stats()[op].as_u64().unwrap_or(0)
    }

    /// The environment that points an agent process at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// A Route 53 client for the test's own reads and for making foreign objects.
    pub fn route53(&self) -> aws_sdk_route53::Client {
        failover_agent::tls::install_crypto_provider();
        let cfg = aws_sdk_route53::Config::builder()
            .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
            .region(aws_sdk_route53::config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_route53::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build();
        aws_sdk_route53::Client::from_conf(cfg)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
