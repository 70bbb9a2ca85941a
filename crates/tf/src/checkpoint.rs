//! Reading TensorFlow V2 checkpoints (TensorBundle): `<prefix>.index` + `<prefix>.data-NNNNN-of-MMMMM`.
//!
//! The index is an SSTable ([`crate::sstable`]) mapping checkpoint keys to
//! `BundleEntryProto`s (dtype, shape, shard, offset, size, masked CRC32C); key `""` holds the
//! `BundleHeaderProto` (shard count, endianness). Tensor bytes live in the data shards,
//! little-endian, at `[offset, offset + size)`.
//!
//! Opening a checkpoint parses and checks the whole index and that every shard exists and
//! holds every entry's bytes, so a missing, truncated or wrongly counted shard is reported
//! at once. Tensor bytes are read only on request, with one positioned read straight into
//! the returned buffer (no intermediate copy), and checked against their CRC32C. Nothing is
//! allocated before the entry's size is checked against the dtype, the shape and the file
//! length, so a corrupt entry claiming 10^12 elements is an error, not an allocation.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use prost::Message;

use crate::pb::{DataType, TensorShapeProto, VersionDef};
use crate::{crc32c, sstable, TfError};

/// `tensorflow/core/protobuf/tensor_bundle.proto`: the header stored under key `""`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleHeaderProto {
    /// Number of data shards.
    #[prost(int32, tag = "1")]
    pub num_shards: i32,
    /// 0 = little endian, 1 = big endian.
    #[prost(int32, tag = "2")]
    pub endianness: i32,
    /// Format version.
    #[prost(message, optional, tag = "3")]
    pub version: Option<VersionDef>,
}

/// `tensor_bundle.proto`: where one tensor lives.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BundleEntryProto {
    /// Element type (`DataType`).
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// Shape.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    /// Data shard holding the bytes.
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    /// Byte offset in the shard.
    #[prost(int64, tag = "4")]
    pub offset: i64,
    /// Byte count.
    #[prost(int64, tag = "5")]
    pub size: i64,
    /// Masked CRC32C of the bytes (for strings: of lengths, length checksum and bytes).
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// For a tensor saved in slices, the slices (each stored under its own key).
    #[prost(message, repeated, tag = "7")]
    pub slices: Vec<TensorSliceProto>,
}

/// `tensor_slice.proto`: one slice of a tensor saved in pieces (partitioned variables, or
/// `MaxShardSizePolicy` sharded saves that split tensors across data files).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorSliceProto {
    /// One extent per dimension.
    #[prost(message, repeated, tag = "1")]
    pub extent: Vec<Extent>,
}

/// `TensorSliceProto.Extent`: a range of one dimension (no length = the whole dimension).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Extent {
    /// First index.
    #[prost(int64, tag = "1")]
    pub start: i64,
    /// Number of indices; absent for the full extent.
    #[prost(int64, optional, tag = "2")]
    pub length: Option<i64>,
}

/// One tensor of a checkpoint, checked against its shard.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointEntry {
    /// Element type.
    pub dtype: DataType,
    /// Shape (no unknown dimensions).
    pub shape: Vec<usize>,
    /// Data shard index.
    pub shard: usize,
    /// Byte offset in the shard.
    pub offset: u64,
    /// Byte count.
    pub size: u64,
    /// Masked CRC32C, as stored.
    pub masked_crc32c: u32,
    /// For a tensor stored in slices: per slice, `(start, length)` per dimension (length
    /// -1 = the whole dimension). Empty for a tensor stored whole.
    pub slices: Vec<Vec<(i64, i64)>>,
}

impl CheckpointEntry {
    /// Number of elements.
    pub fn element_count(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }
}

/// Bytes per element of a fixed-size dtype; `None` for strings and non-data types.
pub fn dtype_size(dtype: DataType) -> Option<usize> {
    use DataType::*;
    Some(match dtype {
        DtFloat | DtInt32 | DtUint32 | DtQint32 => 4,
        DtDouble | DtInt64 | DtUint64 | DtComplex64 => 8,
        DtComplex128 => 16,
        DtUint8 | DtInt8 | DtBool | DtQint8 | DtQuint8 => 1,
        DtInt16 | DtUint16 | DtHalf | DtBfloat16 | DtQint16 | DtQuint16 => 2,
        _ => return None,
    })
}

struct Shard {
    path: PathBuf,
    file: File,
    len: u64,
}

/// An open checkpoint: its checked index and its data shards.
pub struct Checkpoint {
    index_path: PathBuf,
    /// Keys are bytes: slice keys are binary (OrderedCode), the others UTF-8.
    entries: BTreeMap<Vec<u8>, CheckpointEntry>,
    shards: Vec<Shard>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("index", &self.index_path)
            .field("entries", &self.entries.len())
            .field("shards", &self.shards.len())
            .finish()
    }
}

fn format_error(path: &Path, message: impl Into<String>) -> TfError {
    TfError::Format { path: path.to_path_buf(), message: message.into() }
}

/// `variables.data-00000-of-00001` for prefix `variables`.
pub fn shard_path(prefix: &Path, shard: usize, count: usize) -> PathBuf {
    let name = prefix.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    prefix.with_file_name(format!("{name}.data-{shard:05}-of-{count:05}"))
}

impl Checkpoint {
    /// Opens the checkpoint with `prefix` (e.g. `saved_model/variables/variables`).
    pub fn open(prefix: &Path) -> Result<Checkpoint, TfError> {
        let name = prefix.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let index_path = prefix.with_file_name(format!("{name}.index"));
        let bytes = std::fs::read(&index_path).map_err(|e| TfError::Io {
            path: index_path.clone(),
            message: format!("cannot read the checkpoint index: {e}"),
        })?;
        let table = sstable::read_table(&bytes)
            .map_err(|m| format_error(&index_path, format!("corrupt checkpoint index: {m}")))?;
        let mut rows = table.into_iter();
        let header = match rows.next() {
            Some((key, value)) if key.is_empty() => BundleHeaderProto::decode(value.as_slice())
                .map_err(|e| format_error(&index_path, format!("corrupt checkpoint header: {e}")))?,
            _ => return Err(format_error(&index_path, "the checkpoint index has no header entry")),
        };
        if header.endianness != 0 {
            return Err(format_error(&index_path, "big-endian checkpoints are not supported"));
        }
        let num_shards = usize::try_from(header.num_shards)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| format_error(&index_path, format!("the header names {} data shards", header.num_shards)))?;

        let mut entries = BTreeMap::new();
        for (key, value) in rows {
            let key_text = sstable::show(&key);
            let bad = |m: String| format_error(&index_path, format!("checkpoint entry '{key_text}': {m}"));
            let proto = BundleEntryProto::decode(value.as_slice()).map_err(|e| bad(format!("corrupt entry: {e}")))?;
            let dtype = DataType::try_from(proto.dtype).map_err(|_| bad(format!("unknown dtype {}", proto.dtype)))?;
            let shape = match &proto.shape {
                None => Vec::new(),
                Some(s) if s.unknown_rank => return Err(bad("the shape has an unknown rank".into())),
                Some(s) => s
                    .dim
                    .iter()
                    .map(|d| usize::try_from(d.size).map_err(|_| bad(format!("invalid dimension {}", d.size))))
                    .collect::<Result<_, _>>()?,
            };
            let shard = usize::try_from(proto.shard_id).ok().filter(|&s| s < num_shards).ok_or_else(|| {
                bad(format!(
                    "shard {} is not among the {num_shards} shard(s) the header names (wrong shard count?)",
                    proto.shard_id
                ))
            })?;
            let offset = u64::try_from(proto.offset).map_err(|_| bad(format!("negative offset {}", proto.offset)))?;
            let size = u64::try_from(proto.size).map_err(|_| bad(format!("negative size {}", proto.size)))?;
            let slices = proto
                .slices
                .iter()
                .map(|slice| {
                    if slice.extent.len() != shape.len() {
                        return Err(bad(format!(
                            "a slice has {} extents for rank {}",
                            slice.extent.len(),
                            shape.len()
                        )));
                    }
                    Ok(slice.extent.iter().map(|e| (e.start, e.length.unwrap_or(-1))).collect())
                })
                .collect::<Result<Vec<Vec<(i64, i64)>>, TfError>>()?;
            let entry = CheckpointEntry { dtype, shape, shard, offset, size, masked_crc32c: proto.crc32c, slices };
            if entry.slices.is_empty() {
                let count = entry.element_count().ok_or_else(|| bad(format!("shape {:?} overflows", entry.shape)))?;
                match dtype_size(dtype) {
                    Some(width) => {
                        if count.checked_mul(width).map(|n| n as u64) != Some(size) {
                            return Err(bad(format!(
                                "{} bytes for a {} tensor of shape {:?} ({count} elements)",
                                size,
                                crate::dtype_name(dtype as i32),
                                entry.shape
                            )));
                        }
                    }
                    None if dtype == DataType::DtString => {
                        // At least one length byte per element, plus the 4-byte length checksum.
                        if (count as u64).saturating_add(4) > size && count > 0 {
                            return Err(bad(format!("{size} bytes cannot hold {count} strings")));
                        }
                    }
                    None => {
                        return Err(bad(format!("tensors of type {} cannot be read", crate::dtype_name(dtype as i32))))
                    }
                }
            }
            entries.insert(key, entry);
        }

        let mut shards = Vec::with_capacity(num_shards.min(1024));
        for shard in 0..num_shards {
            let path = shard_path(prefix, shard, num_shards);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) => return Err(missing_shard(prefix, &path, num_shards, &e)),
            };
            let len = file.metadata().map_err(|e| TfError::Io { path: path.clone(), message: e.to_string() })?.len();
            shards.push(Shard { path, file, len });
        }
        for (key, entry) in entries.iter().filter(|(_, e)| e.slices.is_empty()) {
            let key = sstable::show(key);
            let shard = &shards[entry.shard];
            if entry.offset.checked_add(entry.size).is_none_or(|end| end > shard.len) {
                return Err(format_error(
                    &shard.path,
                    format!(
                        "tensor '{key}' needs bytes {}..{} but the file has {} bytes: the data file is truncated",
                        entry.offset,
                        entry.offset.saturating_add(entry.size),
                        shard.len
                    ),
                ));
            }
        }
        Ok(Checkpoint { index_path, entries, shards })
    }

    /// The index file.
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// The data shard files, in shard order.
    pub fn shard_paths(&self) -> Vec<&Path> {
        self.shards.iter().map(|s| s.path.as_path()).collect()
    }

    /// The tensor keys with their entries, sorted by key (the entries of individual
    /// slices, whose keys are binary, are left out: read the sliced tensor by its name).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &CheckpointEntry)> {
        self.entries
            .iter()
            .filter_map(|(k, v)| Some((std::str::from_utf8(k).ok().filter(|k| !k.starts_with('\0'))?, v)))
    }

    /// The entry of `key`.
    pub fn entry(&self, key: &str) -> Option<&CheckpointEntry> {
        self.entries.get(key.as_bytes())
    }

    /// The raw little-endian bytes of tensor `key`, checked against their CRC32C (every
    /// slice's, for a tensor stored in slices).
    pub fn read_bytes(&self, key: &str) -> Result<Vec<u8>, TfError> {
        let entry = self
            .entry(key)
            .ok_or_else(|| format_error(&self.index_path, format!("the checkpoint has no tensor '{key}'")))?;
        if !entry.slices.is_empty() {
            return self.read_sliced(key, entry);
        }
        self.read_whole(key, entry)
    }

    fn read_whole(&self, key: &str, entry: &CheckpointEntry) -> Result<Vec<u8>, TfError> {
        let shard = &self.shards[entry.shard];
        // `open` checked offset + size against the file length: the allocation is bounded.
        let mut bytes = vec![0u8; entry.size as usize];
        read_exact_at(&shard.file, &mut bytes, entry.offset).map_err(|e| TfError::Io {
            path: shard.path.clone(),
            message: format!("cannot read tensor '{key}' ({} bytes at offset {}): {e}", entry.size, entry.offset),
        })?;
        let actual = match entry.dtype {
            DataType::DtString => string_crc(&bytes, entry.element_count().unwrap_or(0)),
            _ => Some(crc32c::checksum(&bytes)),
        };
        if actual.map(crc32c::mask) != Some(entry.masked_crc32c) {
            return Err(format_error(
                &shard.path,
                format!(
                    "tensor '{key}' ({} bytes at offset {}) fails its CRC32C check: the checkpoint is corrupt",
                    entry.size, entry.offset
                ),
            ));
        }
        Ok(bytes)
    }

    /// Assembles a tensor saved in slices from its slice entries.
    fn read_sliced(&self, key: &str, entry: &CheckpointEntry) -> Result<Vec<u8>, TfError> {
        let bad = |m: String| format_error(&self.index_path, format!("sliced tensor '{key}': {m}"));
        let width = dtype_size(entry.dtype).ok_or_else(|| {
            bad(format!("slices of {} tensors are not supported", crate::dtype_name(entry.dtype as i32)))
        })?;
        let count = entry.element_count().ok_or_else(|| bad("the shape overflows".into()))?;
        let total = count.checked_mul(width).ok_or_else(|| bad("the shape overflows".into()))?;
        // Every byte of the tensor lives in some shard: bound the allocation by their sizes.
        let stored: u64 = self.shards.iter().map(|s| s.len).sum();
        if total as u64 > stored {
            return Err(bad(format!("{total} bytes cannot come from {stored} bytes of data files")));
        }
        let rank = entry.shape.len();
        let mut out = vec![0u8; total];
        let mut covered = 0usize;
        for extents in &entry.slices {
            let mut starts = Vec::with_capacity(rank);
            let mut lengths = Vec::with_capacity(rank);
            for (d, &(start, length)) in extents.iter().enumerate() {
                let (start, length) = match (usize::try_from(start), usize::try_from(length)) {
                    (_, Err(_)) => (0, entry.shape[d]),
                    (Ok(start), Ok(length)) => (start, length),
                    (Err(_), Ok(_)) => return Err(bad(format!("slice {extents:?} starts before 0"))),
                };
                if start.checked_add(length).is_none_or(|end| end > entry.shape[d]) {
                    return Err(bad(format!("slice {extents:?} exceeds shape {:?}", entry.shape)));
                }
                starts.push(start);
                lengths.push(length);
            }
            let slice_key = slice_key(key, extents);
            let slice = self
                .entries
                .get(&slice_key)
                .ok_or_else(|| bad(format!("slice {extents:?} is missing from the index")))?;
            if slice.shape != lengths || slice.dtype != entry.dtype || !slice.slices.is_empty() {
                return Err(bad(format!(
                    "slice {extents:?} is stored as {} {:?}",
                    crate::dtype_name(slice.dtype as i32),
                    slice.shape
                )));
            }
            let bytes = self.read_whole(&format!("{key} (slice {extents:?})"), slice)?;
            covered += copy_slice(&mut out, &entry.shape, &starts, &lengths, width, &bytes);
        }
        if covered != count {
            return Err(bad(format!("the slices hold {covered} of {count} elements")));
        }
        Ok(out)
    }

    /// Tensor `key` as float32 (it must be a float tensor).
    pub fn read_f32(&self, key: &str) -> Result<ArrayD<f32>, TfError> {
        let entry = self
            .entry(key)
            .ok_or_else(|| format_error(&self.index_path, format!("the checkpoint has no tensor '{key}'")))?;
        if entry.dtype != DataType::DtFloat {
            return Err(format_error(&self.index_path, format!("tensor '{key}' is {:?}, not float32", entry.dtype)));
        }
        let shape = entry.shape.clone();
        let bytes = self.read_bytes(key)?;
        let values = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        ArrayD::from_shape_vec(IxDyn(&shape), values)
            .map_err(|e| format_error(&self.index_path, format!("tensor '{key}': {e}")))
    }

    /// String tensor `key`, element by element.
    pub fn read_strings(&self, key: &str) -> Result<Vec<Vec<u8>>, TfError> {
        let entry = self
            .entry(key)
            .ok_or_else(|| format_error(&self.index_path, format!("the checkpoint has no tensor '{key}'")))?;
        if entry.dtype != DataType::DtString {
            return Err(format_error(
                &self.index_path,
                format!("tensor '{key}' is {:?}, not a string tensor", entry.dtype),
            ));
        }
        let count = entry.element_count().unwrap_or(0);
        let bytes = self.read_bytes(key)?;
        split_strings(&bytes, count)
            .ok_or_else(|| format_error(&self.shards[entry.shard].path, format!("string tensor '{key}' is malformed")))
    }

    /// Reads every stored tensor and slice once and checks its CRC32C.
    pub fn verify_all(&self) -> Result<(), TfError> {
        for (key, entry) in self.entries.iter().filter(|(_, e)| e.slices.is_empty()) {
            self.read_whole(&sstable::show(key), entry)?;
        }
        Ok(())
    }
}

/// Copies a slice (`lengths` at `starts`, row-major bytes) into the full tensor `out` of
/// `shape`; returns the number of elements copied. Bounds were checked by the caller.
fn copy_slice(
    out: &mut [u8],
    shape: &[usize],
    starts: &[usize],
    lengths: &[usize],
    width: usize,
    bytes: &[u8],
) -> usize {
    let rank = shape.len();
    let count: usize = lengths.iter().product();
    if count == 0 {
        return 0;
    }
    if rank == 0 {
        out[..width].copy_from_slice(&bytes[..width]);
        return 1;
    }
    // Strides of the full tensor, in elements.
    let mut strides = vec![1usize; rank];
    for d in (0..rank - 1).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let run = lengths[rank - 1] * width;
    let mut index = vec![0usize; rank - 1];
    let mut source = 0;
    loop {
        let element: usize = (0..rank).map(|d| (starts[d] + index.get(d).copied().unwrap_or(0)) * strides[d]).sum();
        out[element * width..element * width + run].copy_from_slice(&bytes[source..source + run]);
        source += run;
        // Next index over the outer dimensions, last fastest.
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return count;
            }
            d -= 1;
            index[d] += 1;
            if index[d] < lengths[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

/// The index key of one slice of `name` (`checkpoint::EncodeTensorNameSlice`: OrderedCode
/// of 0, the name, the rank, then start and length of each extent, -1 for a full one).
fn slice_key(name: &str, extents: &[(i64, i64)]) -> Vec<u8> {
    let mut key = Vec::new();
    ordered_num(&mut key, 0);
    for &b in name.as_bytes() {
        match b {
            0x00 => key.extend_from_slice(&[0x00, 0xff]),
            0xff => key.extend_from_slice(&[0xff, 0x00]),
            b => key.push(b),
        }
    }
    key.extend_from_slice(&[0x00, 0x01]);
    ordered_num(&mut key, extents.len() as u64);
    for &(start, length) in extents {
        let (start, length) = if length < 0 { (0, -1) } else { (start, length) };
        ordered_signed(&mut key, start);
        ordered_signed(&mut key, length);
    }
    key
}

/// OrderedCode `WriteNumIncreasing`: a length byte, then the big-endian value without
/// leading zeros.
fn ordered_num(out: &mut Vec<u8>, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push((8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// OrderedCode `WriteSignedNumIncreasing`: the sign-extended big-endian value in the fewest
/// bytes, its first bits replaced by a unary length header.
fn ordered_signed(out: &mut Vec<u8>, value: i64) {
    const HEADER: [[u8; 2]; 11] = [
        [0, 0],
        [0x80, 0],
        [0xc0, 0],
        [0xe0, 0],
        [0xf0, 0],
        [0xf8, 0],
        [0xfc, 0],
        [0xfe, 0],
        [0xff, 0],
        [0xff, 0x80],
        [0xff, 0xc0],
    ];
    let magnitude = if value < 0 { !(value as u64) } else { value as u64 };
    if magnitude < 64 {
        out.push(HEADER[1][0] ^ (value as u8));
        return;
    }
    let bits = 64 - magnitude.leading_zeros() as usize;
    let len = (bits + 7) / 7;
    let sign = if value < 0 { 0xff } else { 0 };
    let mut buf = [sign; 10];
    buf[2..].copy_from_slice(&value.to_be_bytes());
    let begin = 10 - len;
    buf[begin] ^= HEADER[len][0];
    buf[begin + 1] ^= HEADER[len][1];
    out.extend_from_slice(&buf[begin..]);
}

fn missing_shard(prefix: &Path, path: &Path, num_shards: usize, error: &std::io::Error) -> TfError {
    let stem = prefix.file_name().map(|n| format!("{}.data-", n.to_string_lossy())).unwrap_or_default();
    let mut present: Vec<String> = prefix
        .parent()
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&stem))
                .collect()
        })
        .unwrap_or_default();
    present.sort();
    let found = if present.is_empty() {
        "no data file is present".to_string()
    } else {
        format!("present: {}", present.join(", "))
    };
    TfError::Io {
        path: path.to_path_buf(),
        message: format!("missing checkpoint data file ({error}); the index names {num_shards} shard(s); {found}"),
    }
}

/// Reads a varint64 (at most 10 bytes).
fn varint64(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The CRC32C TensorFlow stores for a string tensor (`WriteStringTensor`): over each
/// length as a little-endian u32 (u64 if it does not fit), then the masked length
/// checksum, then the bytes.
fn string_crc(bytes: &[u8], count: usize) -> Option<u32> {
    let mut pos = 0;
    let mut crc = 0;
    let mut total = 0u64;
    for _ in 0..count {
        let len = varint64(bytes, &mut pos)?;
        total = total.checked_add(len)?;
        crc = match u32::try_from(len) {
            Ok(short) => crc32c::extend(crc, &short.to_le_bytes()),
            Err(_) => crc32c::extend(crc, &len.to_le_bytes()),
        };
    }
    let stored = bytes.get(pos..pos + 4)?;
    if u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]) != crc32c::mask(crc) {
        return None;
    }
    crc = crc32c::extend(crc, stored);
    let rest = bytes.get(pos + 4..)?;
    if rest.len() as u64 != total {
        return None;
    }
    Some(crc32c::extend(crc, rest))
}

fn split_strings(bytes: &[u8], count: usize) -> Option<Vec<Vec<u8>>> {
    let mut pos = 0;
    let mut lengths = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        lengths.push(usize::try_from(varint64(bytes, &mut pos)?).ok()?);
    }
    pos = pos.checked_add(4)?;
    let mut out = Vec::with_capacity(lengths.len());
    for len in lengths {
        let end = pos.checked_add(len).filter(|&e| e <= bytes.len())?;
        out.push(bytes[pos..end].to_vec());
        pos = end;
    }
    Some(out)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pb::tensor_shape_proto::Dim;
    use crate::sstable::writer;

    /// Writes a checkpoint of float tensors under `dir/variables`, `shards` data files.
    pub fn write_checkpoint(dir: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)], shards: usize) -> PathBuf {
        let prefix = dir.join("variables");
        let mut data: Vec<Vec<u8>> = vec![Vec::new(); shards];
        let mut rows = vec![(
            Vec::new(),
            BundleHeaderProto { num_shards: shards as i32, endianness: 0, version: None }.encode_to_vec(),
        )];
        let mut sorted: Vec<_> = tensors.iter().collect();
        sorted.sort_by_key(|t| t.0);
        for (i, (key, shape, values)) in sorted.into_iter().enumerate() {
            let shard = i % shards;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let entry = BundleEntryProto {
                dtype: DataType::DtFloat as i32,
                shape: Some(TensorShapeProto {
                    dim: shape.iter().map(|&d| Dim { size: d as i64, name: String::new() }).collect(),
                    unknown_rank: false,
                }),
                shard_id: shard as i32,
                offset: data[shard].len() as i64,
                size: bytes.len() as i64,
                crc32c: crc32c::mask(crc32c::checksum(&bytes)),
                slices: vec![],
            };
            data[shard].extend_from_slice(&bytes);
            rows.push((key.as_bytes().to_vec(), entry.encode_to_vec()));
        }
        std::fs::write(dir.join("variables.index"), writer::table(&rows, 3, 2)).unwrap();
        for (shard, bytes) in data.iter().enumerate() {
            std::fs::write(shard_path(&prefix, shard, shards), bytes).unwrap();
        }
        prefix
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tf2h5-ckpt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_multi_shard_checkpoints() {
        let dir = temp_dir("multi");
        let tensors: Vec<(&str, Vec<usize>, Vec<f32>)> = (0..7)
            .map(|i| {
                (
                    ["a", "b/kernel", "b/bias", "c", "d", "e/x", "e/y"][i],
                    vec![2, i + 1],
                    (0..2 * (i + 1)).map(|v| v as f32 * 0.5 + i as f32).collect(),
                )
            })
            .collect();
        let prefix = write_checkpoint(&dir, &tensors, 3);
        let ckpt = Checkpoint::open(&prefix).unwrap();
        assert_eq!(ckpt.shard_paths().len(), 3);
        for (key, shape, values) in &tensors {
            let array = ckpt.read_f32(key).unwrap();
            assert_eq!(array.shape(), shape.as_slice());
            assert_eq!(array.as_slice().unwrap(), values.as_slice());
        }
        ckpt.verify_all().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corruption_names_the_file() {
        let dir = temp_dir("corrupt");
        let prefix = write_checkpoint(&dir, &[("w", vec![4], vec![1.0, 2.0, 3.0, 4.0])], 1);
        let data = shard_path(&prefix, 0, 1);
        let mut bytes = std::fs::read(&data).unwrap();
        bytes[5] ^= 1;
        std::fs::write(&data, &bytes).unwrap();
        let err = Checkpoint::open(&prefix).unwrap().read_bytes("w").unwrap_err().to_string();
        assert!(
            err.contains("variables.data-00000-of-00001") && err.contains("CRC32C") && err.contains("'w'"),
            "{err}"
        );
        std::fs::write(&data, &bytes[..10]).unwrap();
        let err = Checkpoint::open(&prefix).unwrap_err().to_string();
        assert!(err.contains("variables.data-00000-of-00001") && err.contains("truncated"), "{err}");
        std::fs::rename(&data, shard_path(&prefix, 0, 2)).unwrap();
        let err = Checkpoint::open(&prefix).unwrap_err().to_string();
        assert!(
            err.contains("variables.data-00000-of-00001") && err.contains("variables.data-00000-of-00002"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_absurd_entries_without_allocating() {
        let dir = temp_dir("absurd");
        let prefix = dir.join("variables");
        let entry = BundleEntryProto {
            dtype: DataType::DtFloat as i32,
            shape: Some(TensorShapeProto {
                dim: vec![Dim { size: 1_000_000, name: String::new() }, Dim { size: 1_000_000, name: String::new() }],
                unknown_rank: false,
            }),
            size: 4_000_000_000_000,
            ..Default::default()
        };
        let rows = vec![
            (Vec::new(), BundleHeaderProto { num_shards: 1, ..Default::default() }.encode_to_vec()),
            (b"huge".to_vec(), entry.encode_to_vec()),
        ];
        std::fs::write(dir.join("variables.index"), writer::table(&rows, 4, 4)).unwrap();
        std::fs::write(shard_path(&prefix, 0, 1), [0u8; 16]).unwrap();
        let err = Checkpoint::open(&prefix).unwrap_err().to_string();
        assert!(err.contains("'huge'") && err.contains("truncated"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ordered_code_matches_tensorflow() {
        // Bytes of a real TF 2.21 sliced-save index: slice [0:2] of a rank-1 tensor.
        let key = slice_key("b", &[(0, 2)]);
        assert_eq!(key, [0x00, b'b', 0x00, 0x01, 0x01, 0x01, 0x80, 0x82]);
        let mut out = Vec::new();
        for v in [-1i64, 63, 64, -65, 1000, i64::MAX, i64::MIN] {
            out.clear();
            ordered_signed(&mut out, v);
            assert!(!out.is_empty() && out.len() <= 10, "{v}");
        }
        out.clear();
        ordered_signed(&mut out, -1);
        assert_eq!(out, [0x7f]);
        out.clear();
        ordered_signed(&mut out, 64);
        assert_eq!(out, [0xc0, 0x40]);
        out.clear();
        ordered_num(&mut out, 0x1234);
        assert_eq!(out, [2, 0x12, 0x34]);
    }

    #[test]
    fn copies_slices_into_place() {
        // A 3x4 tensor of u8 from a [0:3, 1:3] slice.
        let mut out = vec![0u8; 12];
        let n = copy_slice(&mut out, &[3, 4], &[0, 1], &[3, 2], 1, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(n, 6);
        assert_eq!(out, [0, 1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0]);
    }

    #[test]
    fn string_tensor_format() {
        // Two strings "ab", "c": lengths 2, 1; checksum over the u32 lengths, masked.
        let mut crc = crc32c::extend(0, &2u32.to_le_bytes());
        crc = crc32c::extend(crc, &1u32.to_le_bytes());
        let mut bytes = vec![2, 1];
        bytes.extend_from_slice(&crc32c::mask(crc).to_le_bytes());
        bytes.extend_from_slice(b"abc");
        assert!(string_crc(&bytes, 2).is_some());
        assert_eq!(split_strings(&bytes, 2).unwrap(), vec![b"ab".to_vec(), b"c".to_vec()]);
        assert!(string_crc(&bytes[..6], 2).is_none());
        assert!(split_strings(&bytes[..7], 2).is_none());
    }
}
