//! The `rustc` launcher: all the work happens in `librustc_driver`.

fn main() {
    rustc_driver::main()
}
