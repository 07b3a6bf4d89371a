fn main() {
    std::process::exit(chathooks::cli::main())
}
