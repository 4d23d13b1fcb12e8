//! Build script: compiles the Tauri configuration (at the repository root) and the capabilities.

fn main() {
    if let Err(e) =
        tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
    {
        // Cargo shows build-script output only on failure; make the reason the first line.
        eprintln!("error: tauri build step failed: {e:#}");
        std::process::exit(1);
    }
}
