fn main() -> std::process::ExitCode {
    meshc::cli::main()
}
