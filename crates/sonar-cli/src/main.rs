//! The `sonar` binary: parses flags, loads configuration, runs the library's pipeline.

fn main() {
    println!("sonar: not yet wired");
}
