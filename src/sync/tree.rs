//! A Git Sync tree's files (temporary: replaced by the tree reader).

use std::path::Path;

use crate::model::ResourceType;

/// The bytes of every `*.tf` file in the resource directories of `dir`.
pub fn read_dir_files(dir: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for ty in ResourceType::ALL {
        let sub = ty.kind().directory;
        let entries = match std::fs::read_dir(dir.join(sub)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tf") && entry.file_type()?.is_file() {
                out.push((format!("{sub}/{name}"), std::fs::read(entry.path())?));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The same files as they are in revision `rev` of the repository holding `dir`.
pub fn read_rev_files(dir: &Path, rev: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let _ = (dir, rev);
    Err(std::io::Error::other("--base is not supported yet"))
}
