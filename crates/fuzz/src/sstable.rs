//! A lenient reader and a minimal writer of the LevelDB-style tables TF uses for
//! `variables.index`: mutate an entry, write the table back with valid checksums, and the
//! mutation reaches the checkpoint reader instead of its CRC check.

use tf2h5_tf::crc32c;

const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const FOOTER_LEN: usize = 48;

fn varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn block(file: &[u8], pos: &mut usize, from: &[u8]) -> Option<Vec<u8>> {
    let offset = usize::try_from(varint(from, pos)?).ok()?;
    let size = usize::try_from(varint(from, pos)?).ok()?;
    file.get(offset..offset.checked_add(size)?).map(<[u8]>::to_vec)
}

fn entries(block: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let restarts = u32::from_le_bytes(block.get(block.len().checked_sub(4)?..)?.try_into().ok()?) as usize;
    let end = block.len().checked_sub(4)?.checked_sub(restarts.checked_mul(4)?)?;
    let mut pos = 0;
    let mut key: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while pos < end {
        let shared = usize::try_from(varint(block, &mut pos)?).ok()?;
        let unshared = usize::try_from(varint(block, &mut pos)?).ok()?;
        let value_len = usize::try_from(varint(block, &mut pos)?).ok()?;
        key.truncate(shared.min(key.len()));
        key.extend_from_slice(block.get(pos..pos.checked_add(unshared)?)?);
        pos += unshared;
        let value = block.get(pos..pos.checked_add(value_len)?)?.to_vec();
        pos += value_len;
        out.push((key.clone(), value));
    }
    Some(out)
}

/// Every key/value pair of a table (no checksum checks); `None` if the structure is broken.
pub fn read(file: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let footer = file.get(file.len().checked_sub(FOOTER_LEN)?..)?;
    if u64::from_le_bytes(footer[40..48].try_into().ok()?) != MAGIC {
        return None;
    }
    let mut pos = 0;
    let _metaindex = block(file, &mut pos, footer)?;
    let index = block(file, &mut pos, footer)?;
    let mut out = Vec::new();
    for (_, handle) in entries(&index)? {
        let data = block(file, &mut 0, &handle)?;
        out.extend(entries(&data)?);
    }
    Some(out)
}

fn encode_block(rows: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut restarts = Vec::new();
    for (key, value) in rows {
        restarts.push(out.len() as u32);
        put_varint(&mut out, 0);
        put_varint(&mut out, key.len() as u64);
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(key);
        out.extend_from_slice(value);
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

fn append_block(file: &mut Vec<u8>, contents: &[u8]) -> (u64, u64) {
    let offset = file.len() as u64;
    file.extend_from_slice(contents);
    file.push(0);
    let crc = crc32c::mask(crc32c::extend(crc32c::extend(0, contents), &[0]));
    file.extend_from_slice(&crc.to_le_bytes());
    (offset, contents.len() as u64)
}

/// A table holding `rows` in the given order (one data block, valid checksums).
pub fn write(rows: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut file = Vec::new();
    let mut index_rows = Vec::new();
    if !rows.is_empty() {
        let (offset, size) = append_block(&mut file, &encode_block(rows));
        let mut handle = Vec::new();
        put_varint(&mut handle, offset);
        put_varint(&mut handle, size);
        index_rows.push((rows.last().map(|r| r.0.clone()).unwrap_or_default(), handle));
    }
    let metaindex = append_block(&mut file, &encode_block(&[]));
    let index = append_block(&mut file, &encode_block(&index_rows));
    let mut footer = Vec::new();
    for v in [metaindex.0, metaindex.1, index.0, index.1] {
        put_varint(&mut footer, v);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&MAGIC.to_le_bytes());
    file.extend_from_slice(&footer);
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let rows =
            vec![(Vec::new(), b"header".to_vec()), (b"a/kernel".to_vec(), vec![1, 2, 3]), (b"b".to_vec(), vec![])];
        assert_eq!(read(&write(&rows)).unwrap(), rows);
        assert_eq!(read(&write(&[])).unwrap(), vec![]);
        assert!(read(b"short").is_none());
    }
}
