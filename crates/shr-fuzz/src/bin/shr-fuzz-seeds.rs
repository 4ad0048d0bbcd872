//! Writes every fuzz target's seeds into a corpus directory: `shr-fuzz-seeds [DIR]` (default
//! `fuzz/corpus`), as `scripts/fuzz` does before `cargo fuzz run`.

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into());
    let n = shr_fuzz::seeds::write_all(std::path::Path::new(&dir))?;
    std::io::Write::write_all(
        &mut std::io::stdout(),
        format!("{n} seeds written under {dir}\n").as_bytes(),
    )
}
