//! `kproducer`: the command-line tool, thin over the library.
fn main() {
    eprintln!("kproducer: no command yet");
    std::process::exit(2);
}
