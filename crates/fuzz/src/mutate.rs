//! Mutators: byte-level havoc for any file, plus structure-aware mutations for the formats
//! tf2h5 reads, so that mutations get past decoders and checksums and reach the checks behind
//! them:
//! - protobuf files (`*.pb`): a field anywhere in the message tree ([`crate::proto`]);
//! - checkpoint indexes (`*.index`): an entry's key or `BundleEntryProto`, the table rewritten
//!   with valid block checksums ([`crate::sstable`]);
//! - checkpoint data shards: bytes of one tensor, with the tensor's CRC32C fixed in the index;
//! - `.npy` files: the header's shape, dtype and length;
//! - `.h5` files: havoc biased towards the metadata at the front of the file.

use std::path::{Path, PathBuf};

use crate::rng::Rng;
use crate::{proto, sstable};
use tf2h5_tf::crc32c;

/// What a file is, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// A protobuf file: a TF `*.pb` or an ONNX `*.onnx` (a `ModelProto`).
    Proto,
    /// A checkpoint index (`*.index`).
    Table,
    /// A checkpoint data shard (`*.data-NNNNN-of-MMMMM`).
    Shard,
    /// A NumPy array.
    Npy,
    /// An HDF5 file.
    H5,
    /// Anything else.
    Other,
}

impl FileKind {
    /// The kind of the file at `path`.
    pub fn of(path: &Path) -> FileKind {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".pb") || name.ends_with(".onnx") {
            FileKind::Proto
        } else if name.ends_with(".index") {
            FileKind::Table
        } else if name.contains(".data-") {
            FileKind::Shard
        } else if name.ends_with(".npy") {
            FileKind::Npy
        } else if name.ends_with(".h5") || name.ends_with(".hdf5") {
            FileKind::H5
        } else {
            FileKind::Other
        }
    }
}

/// A mutated file set: the main file plus any companion rewritten to keep checksums valid.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// Path (relative to the fixture) and new contents of each changed file.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// The operators applied, for statistics.
    pub ops: Vec<&'static str>,
}

/// What a mutator may draw on besides the file itself.
pub struct Context<'a> {
    /// Other files of the same kind (splicing donors).
    pub donors: &'a [&'a [u8]],
    /// Reads a sibling file of the fixture (`None` if absent): the index of a data shard.
    pub sibling: &'a dyn Fn(&Path) -> Option<Vec<u8>>,
}

/// Mutates `bytes`, the contents of `rel` (of kind `kind`).
pub fn mutate(kind: FileKind, rel: &Path, bytes: &[u8], context: &Context, rng: &mut Rng) -> Mutation {
    let mut ops = Vec::new();
    if rng.chance(0.05) {
        let data = special(bytes, rng, &mut ops);
        return Mutation { files: vec![(rel.to_path_buf(), data)], ops };
    }
    let structural = match kind {
        FileKind::Proto => rng.chance(0.55).then(|| proto_mutation(bytes, rng, &mut ops)).flatten(),
        FileKind::Table => rng.chance(0.55).then(|| table_mutation(bytes, rng, &mut ops)).flatten(),
        FileKind::Shard => {
            if rng.chance(0.5) {
                if let Some(files) = shard_mutation(rel, bytes, context, rng, &mut ops) {
                    return Mutation { files, ops };
                }
            }
            None
        }
        FileKind::Npy => rng.chance(0.45).then(|| npy_mutation(bytes, rng, &mut ops)).flatten(),
        FileKind::H5 | FileKind::Other => None,
    };
    let data = match structural {
        Some(data) => data,
        None => {
            let mut data = bytes.to_vec();
            // HDF5 metadata (superblock, object headers, heaps, B-trees) sits mostly at the front.
            let focus = (kind == FileKind::H5 && rng.chance(0.6)).then_some(4096);
            for _ in 0..rng.range(1, 4) {
                ops.push(havoc(&mut data, context.donors, focus, rng));
            }
            data
        }
    };
    Mutation { files: vec![(rel.to_path_buf(), data)], ops }
}

/// Whole-file replacements: empty, random, tiny prefixes, doubled.
fn special(bytes: &[u8], rng: &mut Rng, ops: &mut Vec<&'static str>) -> Vec<u8> {
    match rng.below(5) {
        0 => {
            ops.push("empty");
            Vec::new()
        }
        1 => {
            ops.push("random-same-length");
            (0..bytes.len()).map(|_| rng.next_u64() as u8).collect()
        }
        2 => {
            ops.push("random-short");
            (0..rng.range(1, 64)).map(|_| rng.next_u64() as u8).collect()
        }
        3 => {
            ops.push("tiny-prefix");
            bytes[..rng.range(1, 16).min(bytes.len())].to_vec()
        }
        _ => {
            ops.push("doubled");
            [bytes, bytes].concat()
        }
    }
}

const INTERESTING_BYTES: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];

fn position(len: usize, focus: Option<usize>, rng: &mut Rng) -> usize {
    match focus {
        Some(f) => rng.below(len.min(f)),
        None => rng.below(len),
    }
}

/// One byte-level operator; returns its name.
pub fn havoc(data: &mut Vec<u8>, donors: &[&[u8]], focus: Option<usize>, rng: &mut Rng) -> &'static str {
    if data.is_empty() {
        data.extend((0..rng.range(1, 32)).map(|_| rng.next_u64() as u8));
        return "fill-empty";
    }
    let len = data.len();
    match rng.weighted(&[6, 3, 3, 2, 2, 1, 2, 1, 2, 3, 1]) {
        0 => {
            for _ in 0..rng.range(1, 8) {
                let i = position(len, focus, rng);
                data[i] ^= 1 << rng.below(8);
            }
            "bitflip"
        }
        1 => {
            for _ in 0..rng.range(1, 4) {
                let i = position(len, focus, rng);
                data[i] = *rng.pick(INTERESTING_BYTES).unwrap_or(&0);
            }
            "interesting-byte"
        }
        2 => {
            let width = *rng.pick(&[2usize, 4, 8]).unwrap_or(&4);
            let i = position(len, focus, rng);
            let value = *rng.pick(proto::INTERESTING).unwrap_or(&0);
            let bytes = if rng.chance(0.5) { value.to_le_bytes() } else { value.to_be_bytes() };
            for (k, b) in bytes.iter().take(width).enumerate() {
                if let Some(slot) = data.get_mut(i + k) {
                    *slot = *b;
                }
            }
            "interesting-word"
        }
        3 => {
            let i = position(len, focus, rng);
            let n = rng.range(1, 32).min(len - i);
            for b in &mut data[i..i + n] {
                *b = rng.next_u64() as u8;
            }
            "random-run"
        }
        4 => {
            let i = position(len, focus, rng);
            let n = rng.range(1, (len / 8).max(1)).min(len - i);
            data.drain(i..i + n);
            "delete-chunk"
        }
        5 => {
            let i = position(len, focus, rng);
            let chunk: Vec<u8> = (0..rng.range(1, 64)).map(|_| rng.next_u64() as u8).collect();
            data.splice(i..i, chunk);
            "insert-random"
        }
        6 => {
            let from = rng.below(len);
            let n = rng.range(1, 256).min(len - from);
            let chunk = data[from..from + n].to_vec();
            let at = position(len, focus, rng);
            data.splice(at..at, chunk);
            "duplicate-chunk"
        }
        7 => {
            let from = rng.below(len);
            let to = position(len, focus, rng);
            let n = rng.range(1, 64).min(len - from).min(len - to);
            let chunk = data[from..from + n].to_vec();
            data[to..to + n].copy_from_slice(&chunk);
            "overwrite-chunk"
        }
        8 => {
            let donor = rng.pick(donors).copied().unwrap_or(&[]);
            let cut = rng.below(len);
            let from = rng.below(donor.len().max(1)).min(donor.len());
            data.truncate(cut);
            data.extend_from_slice(&donor[from..]);
            "splice"
        }
        9 => {
            data.truncate(rng.below(len));
            "truncate"
        }
        _ => {
            data.extend((0..rng.range(1, 128)).map(|_| rng.next_u64() as u8));
            "append-garbage"
        }
    }
}

fn proto_mutation(bytes: &[u8], rng: &mut Rng, ops: &mut Vec<&'static str>) -> Option<Vec<u8>> {
    let mut fields = proto::parse(bytes)?;
    for _ in 0..rng.range(1, 3) {
        ops.push(proto::mutate(&mut fields, rng));
    }
    Some(proto::serialize(&fields))
}

fn table_mutation(bytes: &[u8], rng: &mut Rng, ops: &mut Vec<&'static str>) -> Option<Vec<u8>> {
    let mut rows = sstable::read(bytes)?;
    if rows.is_empty() {
        return None;
    }
    for _ in 0..rng.range(1, 2) {
        let i = rng.below(rows.len());
        match rng.weighted(&[8, 1, 1, 1, 2]) {
            0 => {
                // The header (key "") or a BundleEntryProto: shape, dtype, shard, offset, size, crc.
                let mut fields = proto::parse(&rows[i].1).unwrap_or_default();
                ops.push("table-entry");
                ops.push(proto::mutate(&mut fields, rng));
                rows[i].1 = proto::serialize(&fields);
            }
            1 => {
                rows.remove(i);
                ops.push("table-delete");
                if rows.is_empty() {
                    break;
                }
            }
            2 => {
                let row = rows[i].clone();
                rows.insert(i, row);
                ops.push("table-duplicate");
            }
            3 => {
                let j = rng.below(rows.len());
                rows.swap(i, j);
                ops.push("table-swap");
            }
            _ => {
                let key = &mut rows[i].0;
                match rng.below(3) {
                    0 => key.truncate(rng.below(key.len() + 1)),
                    1 => key.extend_from_slice(b"/x"),
                    _ => {
                        if let Some(b) = key.last_mut() {
                            *b ^= 1 << rng.below(8);
                        }
                    }
                }
                ops.push("table-key");
            }
        }
    }
    Some(sstable::write(&rows))
}

/// `prefix.data-NNNNN-of-MMMMM` → (`prefix.index`, NNNNN).
fn index_of_shard(rel: &Path) -> Option<(PathBuf, u64)> {
    let name = rel.file_name()?.to_string_lossy().into_owned();
    let (prefix, rest) = name.split_once(".data-")?;
    let shard = rest.split("-of-").next()?.parse().ok()?;
    Some((rel.with_file_name(format!("{prefix}.index")), shard))
}

fn varint_field(fields: &[proto::Field], number: u32) -> u64 {
    fields
        .iter()
        .rev()
        .find_map(|f| match (f.number == number, &f.value) {
            (true, proto::Value::Varint(v)) => Some(*v),
            _ => None,
        })
        .unwrap_or(0)
}

/// Changes the bytes of one tensor (or its offset and size) and fixes its CRC32C in the
/// index, so that the checkpoint reader sees well-checksummed but hostile data.
fn shard_mutation(
    rel: &Path,
    bytes: &[u8],
    context: &Context,
    rng: &mut Rng,
    ops: &mut Vec<&'static str>,
) -> Option<Vec<(PathBuf, Vec<u8>)>> {
    let (index_rel, shard) = index_of_shard(rel)?;
    let mut rows = sstable::read(&(context.sibling)(&index_rel)?)?;
    let candidates: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, (key, value))| {
            let fields = proto::parse(value).unwrap_or_default();
            !key.is_empty()
                && varint_field(&fields, 3) == shard
                && varint_field(&fields, 5) > 0
                && varint_field(&fields, 1) != 7
        })
        .map(|(i, _)| i)
        .collect();
    let &row = rng.pick(&candidates)?;
    let mut fields = proto::parse(&rows[row].1)?;
    let mut data = bytes.to_vec();
    let mut offset = varint_field(&fields, 4) as usize;
    let mut size = varint_field(&fields, 5) as usize;
    if offset.checked_add(size)? > data.len() {
        return None;
    }
    if rng.chance(0.25) {
        // A checksummed range that disagrees with the tensor's shape or overlaps another tensor.
        offset = rng.below(data.len());
        size = rng.below(data.len() - offset + 1);
        fields.retain(|f| f.number != 4 && f.number != 5);
        fields.push(proto::Field { number: 4, value: proto::Value::Varint(offset as u64) });
        fields.push(proto::Field { number: 5, value: proto::Value::Varint(size as u64) });
        ops.push("shard-range");
    } else {
        // Hostile float values: NaN, infinities, huge and denormal numbers, or random bits.
        const FLOATS: &[u32] = &[0x7fc0_0000, 0x7f80_0000, 0xff80_0000, 0x7f7f_ffff, 0x0000_0001, 0x8000_0000];
        for _ in 0..rng.range(1, 8) {
            let at = offset + (rng.below(size.max(4) / 4) * 4).min(size.saturating_sub(4));
            let value = if rng.chance(0.5) { *rng.pick(FLOATS).unwrap_or(&0) } else { rng.next_u64() as u32 };
            for (k, b) in value.to_le_bytes().iter().enumerate() {
                if at + k < offset + size {
                    data[at + k] = *b;
                }
            }
        }
        ops.push("shard-values");
    }
    let crc = crc32c::mask(crc32c::extend(0, &data[offset..offset + size]));
    fields.retain(|f| f.number != 6);
    fields.push(proto::Field { number: 6, value: proto::Value::Fixed32(crc) });
    rows[row].1 = proto::serialize(&fields);
    Some(vec![(rel.to_path_buf(), data), (index_rel, sstable::write(&rows))])
}

/// Rewrites the `.npy` header: shape, dtype, order, or its length field.
fn npy_mutation(bytes: &[u8], rng: &mut Rng, ops: &mut Vec<&'static str>) -> Option<Vec<u8>> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return None;
    }
    let (header_start, header_len) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        _ => (12, u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize),
    };
    let header = std::str::from_utf8(bytes.get(header_start..header_start + header_len)?).ok()?.to_string();
    let body = &bytes[header_start + header_len..];
    let new_header = match rng.below(4) {
        0 => {
            ops.push("npy-shape");
            let start = header.find("'shape': (")? + 10;
            let end = start + header[start..].find(')')?;
            let dims: Vec<String> =
                header[start..end].split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect();
            let mut dims = dims;
            let choice = rng.below(5);
            match choice {
                0 if !dims.is_empty() => {
                    let i = rng.below(dims.len());
                    dims[i] = rng
                        .pick(&["0", "1000000000000", "-1", "4294967297", "99999999999999999999", "3"])
                        .unwrap_or(&"0")
                        .to_string();
                }
                1 => dims.push(rng.pick(&["1", "2", "1000000"]).unwrap_or(&"1").to_string()),
                2 => {
                    dims.pop();
                }
                3 => dims = vec!["1000000".into(), "1000000".into(), "1000000".into()],
                _ => dims.reverse(),
            }
            let tuple = if dims.len() == 1 { format!("{},", dims[0]) } else { dims.join(", ") };
            format!("{}{}{}", &header[..start], tuple, &header[end..])
        }
        1 => {
            ops.push("npy-dtype");
            let start = header.find("'descr': '")? + 10;
            let end = start + header[start..].find('\'')?;
            let descr = *rng
                .pick(&["<f8", ">f4", "<i4", "|b1", "<c8", "|O", "<f2", "<U8", "V4", "<f4\\x00", ""])
                .unwrap_or(&"<f8");
            format!("{}{}{}", &header[..start], descr, &header[end..])
        }
        2 => {
            ops.push("npy-order");
            header.replace("False", "True")
        }
        _ => {
            ops.push("npy-header-garbage");
            let mut h = header.into_bytes();
            let i = rng.below(h.len().max(1)).min(h.len().saturating_sub(1));
            if let Some(b) = h.get_mut(i) {
                *b = *rng.pick(b"{}(),:'0 x\n").unwrap_or(&b'x');
            }
            String::from_utf8_lossy(&h).into_owned()
        }
    };
    let mut out = bytes[..header_start].to_vec();
    let mut header = new_header.into_bytes();
    if rng.chance(0.8) {
        // Keep the header padded to 64 bytes and its length field right, as numpy writes it.
        while (header_start + header.len()) % 64 != 0 {
            header.insert(header.len().saturating_sub(1), b' ');
        }
    }
    let len = header.len();
    if header_start == 10 {
        out[8..10].copy_from_slice(&(len.min(u16::MAX as usize) as u16).to_le_bytes());
    } else {
        out[8..12].copy_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_models_mutate_as_protobuf() {
        assert_eq!(FileKind::of(Path::new("onnx_cnn/model.onnx")), FileKind::Proto);
        assert_eq!(FileKind::of(Path::new("frozen.pb")), FileKind::Proto);
    }

    #[test]
    fn every_kind_mutates_deterministically() {
        let npy = {
            let mut h = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".to_vec();
            while !(10 + h.len() + 1).is_multiple_of(64) {
                h.push(b' ');
            }
            h.push(b'\n');
            let mut out = b"\x93NUMPY\x01\x00".to_vec();
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(&[0u8; 24]);
            out
        };
        let table = sstable::write(&[
            (vec![], vec![8, 1]),
            (
                b"w".to_vec(),
                proto::serialize(&[
                    proto::Field { number: 1, value: proto::Value::Varint(1) },
                    proto::Field { number: 5, value: proto::Value::Varint(4) },
                ]),
            ),
        ]);
        let sibling_table = table.clone();
        let sibling = move |_: &Path| Some(sibling_table.clone());
        let context = Context { donors: &[b"donor bytes"], sibling: &sibling };
        for (name, bytes) in [
            ("m.pb", vec![10, 3, 97, 98, 99]),
            ("model.onnx", vec![8, 7, 58, 3, 10, 1, 120]),
            ("variables.index", table.clone()),
            ("variables.data-00000-of-00001", vec![0u8; 8]),
            ("x.npy", npy),
            ("m.h5", vec![0x89, b'H', b'D', b'F']),
        ] {
            let rel = Path::new(name);
            for seed in 0..200 {
                let a = mutate(FileKind::of(rel), rel, &bytes, &context, &mut Rng::new(seed));
                let b = mutate(FileKind::of(rel), rel, &bytes, &context, &mut Rng::new(seed));
                assert_eq!(a.files, b.files);
                assert!(!a.ops.is_empty());
            }
        }
    }
}
