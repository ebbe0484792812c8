use std::process::ExitCode;

fn main() -> ExitCode {
    amt_pipeline::cli::main()
}
