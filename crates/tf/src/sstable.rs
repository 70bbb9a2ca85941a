//! A reader for the LevelDB SSTable format that TensorFlow uses for `variables.index`.
//!
//! Layout (LevelDB `table_format.md`; TF writes it with `tensorflow/core/lib/io/table_builder`):
//!
//! ```text
//! [data block 0][trailer] ... [data block n][trailer][metaindex block][trailer][index block][trailer][footer]
//! trailer = compression type (1 byte, TF always writes 0 = none) + masked CRC32C (u32 LE)
//!           of the block contents followed by the type byte
//! footer  = metaindex handle, index handle (varint64 offset + varint64 size each),
//!           zero padding to 40 bytes, magic 0xdb4775248b80fb57 (u64 LE): 48 bytes
//! block   = entries, then restart offsets (u32 LE each), then their count (u32 LE)
//! entry   = varint32 shared key length, varint32 unshared length, varint32 value length,
//!           unshared key bytes, value bytes (keys are prefix-compressed against the
//!           previous key; at a restart point the shared length is 0)
//! ```
//!
//! The index block maps a separator key to the handle of each data block. Everything is
//! checked: bounds, block checksums, restart arrays, and keys strictly increasing across
//! the whole table. The parser never allocates more than the file's own size.

use crate::crc32c;

const FOOTER_LEN: usize = 48;
const TRAILER_LEN: usize = 5;
const MAGIC: u64 = 0xdb47_7524_8b80_fb57;

/// Key/value pairs, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A located region of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockHandle {
    offset: u64,
    size: u64,
}

/// Reads a varint of at most `max_bytes` bytes (5 for 32-bit, 10 for 64-bit values).
fn varint(data: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, String> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let byte = *data.get(*pos).ok_or("a varint runs past the end of its block")?;
        *pos += 1;
        let bits = (byte & 0x7f) as u64;
        if i == 9 && bits > 1 {
            return Err("a varint overflows 64 bits".into());
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint is too long".into())
}

fn varint32(data: &[u8], pos: &mut usize) -> Result<usize, String> {
    let value = varint(data, pos, 5)?;
    u32::try_from(value).map(|v| v as usize).map_err(|_| "a 32-bit varint overflows".to_string())
}

fn handle(data: &[u8], pos: &mut usize) -> Result<BlockHandle, String> {
    Ok(BlockHandle { offset: varint(data, pos, 10)?, size: varint(data, pos, 10)? })
}

fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at.checked_add(4)?).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// All key/value pairs of an SSTable, in key order. Errors are messages about `file`
/// (the caller adds the path).
pub fn read_table(file: &[u8]) -> Result<Entries, String> {
    if file.len() < FOOTER_LEN {
        return Err(format!("{} bytes is too short for a table footer (48 bytes): the file is truncated", file.len()));
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = u64::from_le_bytes(footer[40..48].try_into().unwrap_or([0; 8]));
    if magic != MAGIC {
        return Err(format!(
            "bad table magic {magic:#018x} (expected {MAGIC:#018x}): truncated or not a checkpoint index"
        ));
    }
    let mut pos = 0;
    let metaindex = handle(footer, &mut pos).map_err(|e| format!("footer: {e}"))?;
    let index = handle(footer, &mut pos).map_err(|e| format!("footer: {e}"))?;
    if pos > 40 {
        return Err("footer: block handles overflow the 40-byte handle area".into());
    }
    let body = &file[..file.len() - FOOTER_LEN];
    // The metaindex is empty in TF's tables (no filters); its checksum is still verified.
    block(body, metaindex, "metaindex block")?;
    let index_block = block(body, index, "index block")?;
    // Prefix compression lets a small file describe huge keys (each entry may share the whole
    // previous key): cap the decoded size far above what TF writes.
    let budget = file.len().saturating_mul(64).saturating_add(1 << 20);
    let mut decoded = 0usize;
    let mut entries: Entries = Vec::new();
    for (i, (_, value)) in block_entries(index_block, &mut decoded, budget)
        .map_err(|e| format!("index block: {e}"))?
        .into_iter()
        .enumerate()
    {
        let mut pos = 0;
        let data_handle = handle(&value, &mut pos).map_err(|e| format!("index entry {i}: {e}"))?;
        let what = format!("data block {i}");
        let data = block(body, data_handle, &what)?;
        for (key, value) in block_entries(data, &mut decoded, budget).map_err(|e| format!("{what}: {e}"))? {
            if let Some((last, _)) = entries.last() {
                if key <= *last {
                    return Err(format!(
                        "{what}: keys are not strictly increasing ('{}' after '{}')",
                        show(&key),
                        show(last)
                    ));
                }
            }
            entries.push((key, value));
        }
    }
    Ok(entries)
}

/// A printable form of a key, for messages.
pub fn show(key: &[u8]) -> String {
    String::from_utf8_lossy(key).chars().take(120).collect()
}

/// The contents of the block at `h`, after checking its bounds, trailer and checksum.
fn block<'a>(body: &'a [u8], h: BlockHandle, what: &str) -> Result<&'a [u8], String> {
    let start = usize::try_from(h.offset).map_err(|_| format!("{what}: offset {} is out of range", h.offset))?;
    let size = usize::try_from(h.size).map_err(|_| format!("{what}: size {} is out of range", h.size))?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(TRAILER_LEN))
        .filter(|&e| e <= body.len())
        .ok_or_else(|| {
            format!("{what} at offset {} with {} bytes runs past the end of the file ({} bytes before the footer): truncated", h.offset, h.size, body.len())
        })?;
    let contents = &body[start..start + size];
    let trailer = &body[start + size..end];
    let compression = trailer[0];
    let stored = u32::from_le_bytes([trailer[1], trailer[2], trailer[3], trailer[4]]);
    let actual = crc32c::mask(crc32c::extend(crc32c::checksum(contents), &[compression]));
    if stored != actual {
        return Err(format!("{what} at offset {} fails its CRC32C check (stored {stored:#010x}, computed {actual:#010x}): the file is corrupt", h.offset));
    }
    if compression != 0 {
        return Err(format!("{what} uses compression type {compression}; TensorFlow checkpoints are never compressed"));
    }
    Ok(contents)
}

/// Decodes the entries of one block, checking the restart array; `decoded` counts the bytes
/// of decoded keys and values against `budget`.
fn block_entries(block: &[u8], decoded: &mut usize, budget: usize) -> Result<Entries, String> {
    let count_at = block.len().checked_sub(4).ok_or("the block is shorter than its restart count")?;
    let restarts = u32_le(block, count_at).unwrap_or(0) as usize;
    if restarts == 0 {
        return Err("the block has no restart points".into());
    }
    let data_end = restarts
        .checked_mul(4)
        .and_then(|n| count_at.checked_sub(n))
        .ok_or_else(|| format!("{restarts} restart points do not fit in a {}-byte block", block.len()))?;
    let restart_offsets: Vec<usize> =
        (0..restarts).map(|i| u32_le(block, data_end + 4 * i).unwrap_or(u32::MAX) as usize).collect();
    let data = &block[..data_end];

    let mut entries = Vec::new();
    let mut key: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut next_restart = 0;
    while pos < data.len() {
        let at_restart = restart_offsets.get(next_restart) == Some(&pos);
        if at_restart {
            next_restart += 1;
        }
        let shared = varint32(data, &mut pos)?;
        let unshared = varint32(data, &mut pos)?;
        let value_len = varint32(data, &mut pos)?;
        if shared > key.len() || (at_restart && shared != 0) || (entries.is_empty() && shared != 0) {
            return Err(format!("entry at offset {pos} shares {shared} bytes with a {}-byte previous key", key.len()));
        }
        let key_end =
            pos.checked_add(unshared).filter(|&e| e <= data.len()).ok_or("an entry's key runs past the block")?;
        let value_end = key_end
            .checked_add(value_len)
            .filter(|&e| e <= data.len())
            .ok_or("an entry's value runs past the block")?;
        *decoded = decoded.saturating_add(shared + (value_end - pos));
        if *decoded > budget {
            return Err(format!("keys decode to more than {budget} bytes: not a checkpoint index"));
        }
        key.truncate(shared);
        key.extend_from_slice(&data[pos..key_end]);
        entries.push((key.clone(), data[key_end..value_end].to_vec()));
        pos = value_end;
    }
    // An empty block (TF's metaindex) still has one restart point, at offset 0.
    if next_restart != restarts && !(entries.is_empty() && restart_offsets.iter().all(|&r| r == 0)) {
        return Err(format!(
            "restart point {} (offset {}) is not at an entry boundary",
            next_restart,
            restart_offsets[next_restart.min(restarts - 1)]
        ));
    }
    Ok(entries)
}

/// Builds SSTables for tests (same format as LevelDB's `TableBuilder`, no compression).
#[cfg(test)]
pub(crate) mod writer {
    use super::*;

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn block(entries: &[(Vec<u8>, Vec<u8>)], restart_interval: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut restarts = vec![];
        let mut last: &[u8] = &[];
        for (i, (k, v)) in entries.iter().enumerate() {
            let shared = if i % restart_interval == 0 {
                restarts.push(out.len() as u32);
                0
            } else {
                last.iter().zip(k).take_while(|(a, b)| a == b).count()
            };
            put_varint(&mut out, shared as u64);
            put_varint(&mut out, (k.len() - shared) as u64);
            put_varint(&mut out, v.len() as u64);
            out.extend_from_slice(&k[shared..]);
            out.extend_from_slice(v);
            last = k;
        }
        if restarts.is_empty() {
            restarts.push(0);
        }
        for r in &restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
        out
    }

    fn emit(file: &mut Vec<u8>, contents: &[u8]) -> (u64, u64) {
        let offset = file.len() as u64;
        file.extend_from_slice(contents);
        file.push(0);
        let crc = crc32c::mask(crc32c::extend(crc32c::checksum(contents), &[0]));
        file.extend_from_slice(&crc.to_le_bytes());
        (offset, contents.len() as u64)
    }

    /// A table of sorted `entries`, `per_block` entries per data block.
    pub fn table(entries: &[(Vec<u8>, Vec<u8>)], per_block: usize, restart_interval: usize) -> Vec<u8> {
        let mut file = Vec::new();
        let mut index = Vec::new();
        for chunk in entries.chunks(per_block.max(1)) {
            let (offset, size) = emit(&mut file, &block(chunk, restart_interval));
            let mut h = Vec::new();
            put_varint(&mut h, offset);
            put_varint(&mut h, size);
            index.push((chunk.last().map(|(k, _)| k.clone()).unwrap_or_default(), h));
        }
        let meta = emit(&mut file, &block(&[], 1));
        let idx = emit(&mut file, &block(&index, 1));
        let mut footer = Vec::new();
        for v in [meta.0, meta.1, idx.0, idx.1] {
            put_varint(&mut footer, v);
        }
        footer.resize(40, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        file.extend_from_slice(&footer);
        file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut e: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
            .map(|i| (format!("layer_{:03}/kernel/.ATTRIBUTES/VALUE", i).into_bytes(), vec![i as u8; i % 7]))
            .collect();
        e.insert(0, (Vec::new(), b"header".to_vec()));
        e
    }

    #[test]
    fn reads_multi_block_tables_with_restarts() {
        for (per_block, interval) in [(1, 1), (5, 2), (16, 16), (1000, 3)] {
            let expected = entries(40);
            let table = writer::table(&expected, per_block, interval);
            assert_eq!(read_table(&table).unwrap(), expected, "per_block {per_block}, interval {interval}");
        }
        assert_eq!(read_table(&writer::table(&[], 4, 4)).unwrap(), vec![]);
    }

    #[test]
    fn reports_truncation_magic_and_checksums() {
        let table = writer::table(&entries(10), 4, 2);
        let err = read_table(&table[..20]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        let err = read_table(&table[..table.len() - 1]).unwrap_err();
        assert!(err.contains("magic"), "{err}");
        let mut flipped = table.clone();
        flipped[3] ^= 0x10;
        let err = read_table(&flipped).unwrap_err();
        assert!(err.contains("CRC32C") && err.contains("data block 0"), "{err}");
    }

    #[test]
    fn no_panic_on_any_single_byte_change_or_cut() {
        let table = writer::table(&entries(12), 5, 3);
        for cut in 0..table.len() {
            let _ = read_table(&table[..cut]);
        }
        for at in 0..table.len() {
            for bit in [0x01, 0x80] {
                let mut t = table.clone();
                t[at] ^= bit;
                // Any change is caught by a checksum or a check, except in the footer padding.
                let result = read_table(&t);
                assert!(result.is_err() || result.as_ref().ok() == Some(&entries(12)), "byte {at}");
            }
        }
    }

    #[test]
    fn rejects_malformed_blocks() {
        let entries = |block: &[u8]| block_entries(block, &mut 0, usize::MAX);
        assert!(entries(&[]).is_err());
        assert!(entries(&[0, 0, 0, 0]).unwrap_err().contains("no restart"));
        assert!(entries(&[0xff, 0xff, 0xff, 0x7f]).is_err());
        // One entry sharing bytes with a non-existent previous key.
        let block = [3, 1, 0, b'a', 0, 0, 0, 0, 1, 0, 0, 0];
        assert!(entries(&block).unwrap_err().contains("shares"));
    }

    #[test]
    fn bounds_prefix_compression_amplification() {
        // A 1000-byte key, then thousands of entries each sharing all of it.
        let mut block = vec![0, 0xe8, 0x07, 0];
        block.extend(std::iter::repeat_n(b'k', 1000));
        for _ in 0..5000 {
            block.extend_from_slice(&[0xe8, 0x07, 1, 0, b'x']);
        }
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        let err = block_entries(&block, &mut 0, 64 * block.len()).unwrap_err();
        assert!(err.contains("decode to more than"), "{err}");
        let mut pos = 0;
        assert!(varint(&[0xff; 11], &mut pos, 10).is_err());
    }
}
