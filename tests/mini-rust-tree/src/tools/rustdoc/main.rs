//! The `rustdoc` binary.

#[path = "../../librustdoc/lib.rs"]
mod librustdoc;

fn main() {
    librustdoc::main()
}
