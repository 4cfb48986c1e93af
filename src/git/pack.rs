//! Writing many new objects at once as one pack, instead of one loose file each.
//!
//! A full sync of a large workspace makes thousands of blobs. Written loose, each is a file to
//! create (the dominant cost on ordinary disks) and, at push time, a file for `git pack-objects`
//! to read and compress again. Instead, the caller writes its objects into gix's object memory
//! ([`gix::Repository::with_object_memory`]) and hands them here: they become one pack and its
//! index in the cache's `objects/pack`, the way `git fast-import` stores what it imports. This
//! module only ever adds a complete pack (written to a temporary file, then indexed into place);
//! it never rewrites or deletes existing objects.

use std::sync::atomic::AtomicBool;

use gix_pack::data::output;

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("cannot write the pack of new objects into {path}: {message}")]
    Write { path: String, message: String },
}

/// Moves the objects held in `repo`'s object memory into one new pack of the repository, and
/// turns object memory off. Returns how many objects were packed (0: nothing was written).
pub fn persist_object_memory(repo: &mut gix::Repository) -> Result<usize, PackError> {
    let pack_dir = repo.objects.store_ref().path().join("pack");
    let fail = |message: String| PackError::Write {
        path: pack_dir.display().to_string(),
        message,
    };
    let Some(storage) = repo.objects.take_object_memory() else {
        return Ok(0);
    };
    if storage.is_empty() {
        return Ok(0);
    }
    let mut entries = Vec::with_capacity(storage.len());
    for (id, (kind, data)) in storage.iter() {
        let count = output::Count::from_data(*id, None);
        let object = gix::objs::Data::new(data, *kind, repo.object_hash());
        let entry = output::Entry::from_data(&count, &object, gix::zlib::Compression::BEST_SPEED)
            .map_err(|e| fail(e.to_string()))?;
        entries.push(entry);
    }
    let num_entries = u32::try_from(entries.len()).map_err(|e| fail(e.to_string()))?;
    let mut pack = Vec::new();
    let mut writer = output::bytes::FromEntriesIter::new(
        std::iter::once(Ok(entries)),
        &mut pack,
        num_entries,
        gix_pack::data::Version::V2,
        repo.object_hash(),
    );
    for written in &mut writer {
        written.map_err(|e| fail(e.to_string()))?;
    }
    drop(writer);

    std::fs::create_dir_all(&pack_dir).map_err(|e| fail(e.to_string()))?;
    let mut reader = std::io::BufReader::new(std::io::Cursor::new(pack));
    // Indexes the pack and moves pack and index into place under their content name.
    gix_pack::Bundle::write_to_directory(
        &mut reader,
        Some(&pack_dir),
        &mut gix::progress::Discard,
        &AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        repo.object_hash(),
        Default::default(),
    )
    .map_err(|e| fail(e.to_string()))?;
    Ok(num_entries as usize)
}
