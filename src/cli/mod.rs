//! Command-line front ends of the `gitiam` binary. Each subcommand lives in
//! its own module and returns an [`std::process::ExitCode`]-compatible code.

/// `println!` for command output: through [`print_out`], so that a closed
/// pipe (`gitiam ... | head`) ends the output instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::print_out(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub mod access;
pub mod events;
pub mod iam;
pub mod policy;
pub mod quickstart;
pub mod serve;
pub mod sts_keys;

/// Exit code for an error that no subcommand classified more precisely.
pub const EXIT_FAILURE: u8 = 1;

/// Exit code for a command line that does not parse (unknown flag, missing
/// argument). The same as `policy simulate`'s "invalid request", and never
/// one that a subcommand uses for a result.
pub const EXIT_USAGE: u8 = 3;

/// Writes `text` to standard output; a closed pipe (`| head`) is not an
/// error worth a panic, so write errors are ignored.
pub(crate) fn print_out(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
