//! `kingly call TOOL`: one tool call on a running kernel, printed as JSON.

use crate::client::{self, Client, ConnectTarget, RemoteError};
use anyhow::{bail, Result};
use std::time::Duration;

/// How to reach a kernel; shared by every command that talks to one.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The kernel's UART: unix:PATH (from `kingly boot --serial unix:PATH`), tcp:HOST:PORT, or a
    /// serial device such as /dev/ttyUSB0.
    #[arg(long, value_name = "TARGET")]
    pub connect: String,
    /// Baud rate for a serial device.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Seconds to wait for the session and for each answer.
    #[arg(long, default_value_t = 30.0, value_name = "S")]
    pub wait: f64,
}

impl ConnectArgs {
    /// Opens a session with the kernel.
    pub fn client(&self) -> Result<Client> {
        if !(self.wait.is_finite() && self.wait > 0.0) {
            bail!("--wait must be a positive number of seconds");
        }
        let target = ConnectTarget::parse(&self.connect, self.baud)?;
        let mut client = Client::connect(&target, Duration::from_secs_f64(self.wait))?;
        client.request_timeout = Duration::from_secs_f64(self.wait);
        Ok(client)
    }
}

/// Options of `kingly call`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    kingly call kernel_info --connect unix:/tmp/kingly.sock\n  \
    kingly call ping --args '{\"data\":\"hello\"}' --connect /dev/ttyUSB0 --baud 115200\n  \
    kingly call --list --connect unix:/tmp/kingly.sock      # the kernel's tools and their schemas")]
pub struct CallArgs {
    /// The tool to call (see --list).
    #[arg(required_unless_present_any = ["list", "resource"])]
    pub tool: Option<String>,
    /// Arguments as a JSON object.
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub args: String,
    /// List the kernel's tools instead of calling one.
    #[arg(long)]
    pub list: bool,
    /// Read a resource instead (e.g. kingly://uart/stats).
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Runs `kingly call`; exit 0 on success, 1 when the tool reported an error.
pub fn run(args: &CallArgs) -> Result<i32> {
    match serde_json::from_str::<serde_json::Value>(&args.args) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => bail!("--args must be a JSON object, e.g. '{{\"data\":\"x\"}}'"),
        Err(e) => bail!("--args is not valid JSON: {e}"),
    }
    let mut client = args.connect.client()?;
    if args.list {
        let tools = client.list_tools()?;
        let list: Vec<serde_json::Value> = tools
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "description": t.description,
                    "inputSchema": kingly_proto::contract::json::input_schema(&t.name),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    if let Some(uri) = &args.resource {
        let contents = client.read_resource(uri)?;
        let items: Vec<_> = contents.iter().map(|c| client::content_json(std::slice::from_ref(&c.content))).collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(0);
    }
    let tool = args.tool.as_deref().unwrap_or_default();
    match client.call_tool(tool, &args.args, None) {
        Ok(result) => {
            let value = client::content_json(&result.content);
            if result.is_error {
                eprintln!("kingly: {tool} failed: {}", serde_json::to_string(&value)?);
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({"isError": true, "content": value}))?);
                return Ok(1);
            }
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(0)
        }
        Err(error) => match error.downcast_ref::<RemoteError>() {
            Some(remote) => bail!("the kernel refused the call: {}", remote.message),
            None => Err(error),
        },
    }
}
