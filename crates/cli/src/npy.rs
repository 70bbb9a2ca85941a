//! Reading `--input` `.npy` files as untrusted data.
//!
//! ndarray-npy sizes its buffers from the file's header before reading the data: a 100-byte
//! file whose header claims shape `(1000000, 1000000)` (or a 4 GB header length) would make it
//! allocate terabytes and abort. The header is therefore checked first against the bytes
//! actually present, and its nesting is bounded (its parser recurses).

use std::path::Path;

use anyhow::{bail, Context, Result};
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

/// numpy's own cap on header size (`max_header_size` in `numpy.lib.format`).
const MAX_HEADER_BYTES: usize = 10_000;
/// A header is a flat dict holding a shape tuple; anything nested deeper is hostile.
const MAX_NESTING: usize = 8;

/// Reads a float32 `.npy` file, or an integer or boolean one (int32, int64, uint8, bool: token
/// ids, masks) as whole f32 numbers, exact up to 2^24; errors name the file.
pub fn read_f32(file: &Path) -> Result<ArrayD<f32>> {
    let name = file.display();
    let bytes = std::fs::read(file).with_context(|| format!("{name}: cannot read the file"))?;
    let data_start = check_header(&bytes).map_err(|m| anyhow::anyhow!("{name}: not a valid .npy file: {m}"))?;
    let mut cursor = std::io::Cursor::new(bytes.as_slice());
    let header = ndarray_npy::npy::header::Header::from_reader(&mut cursor)
        .map_err(|e| anyhow::anyhow!("{name}: not a valid .npy file: {e}"))?;
    let available = bytes.len() - data_start;
    // One byte per element at least (uint8, bool); a wider type claiming more data than the
    // file holds fails in the reader below, having allocated a bounded multiple of the file.
    let needed = header.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match needed {
        Some(n) if n <= available => {}
        _ => bail!("{name}: the header claims shape {:?}, but the file holds {available} bytes of data", header.shape),
    }
    // f32 first; otherwise an integer type, whose values must be exact in f32.
    let read = || -> Result<(ArrayD<f32>, bool), ndarray_npy::ReadNpyError> {
        use ndarray_npy::ReadNpyError::WrongDescriptor;
        match ArrayD::<f32>::read_npy(bytes.as_slice()) {
            Err(WrongDescriptor(_)) => {}
            other => return other.map(|a| (a, false)),
        }
        match ArrayD::<i32>::read_npy(bytes.as_slice()) {
            Err(WrongDescriptor(_)) => {}
            other => return other.map(|a| (a.mapv(|v| v as f32), true)),
        }
        match ArrayD::<i64>::read_npy(bytes.as_slice()) {
            Err(WrongDescriptor(_)) => {}
            other => return other.map(|a| (a.mapv(|v| v as f32), true)),
        }
        match ArrayD::<u8>::read_npy(bytes.as_slice()) {
            Err(WrongDescriptor(_)) => {}
            other => return other.map(|a| (a.mapv(f32::from), true)),
        }
        ArrayD::<bool>::read_npy(bytes.as_slice()).map(|a| (a.mapv(|v| if v { 1.0 } else { 0.0 }), true))
    };
    let (array, integer) =
        read().with_context(|| format!("{name}: cannot read a float32, int32, int64, uint8 or bool .npy array"))?;
    if array.is_empty() {
        bail!(
            "{name}: an empty array (shape {:?}) is not supported: Keras layers take no dimension of size 0",
            array.shape()
        );
    }
    if integer && array.iter().any(|v| v.abs() > EXACT_INTEGERS) {
        bail!("{name}: integer values beyond 2^24 are not supported (f32 holds them inexactly)");
    }
    Ok(array)
}

/// Integers up to this magnitude are exact in f32.
const EXACT_INTEGERS: f32 = 16_777_216.0;

/// Checks magic, version, header length and nesting; returns where the data starts.
fn check_header(bytes: &[u8]) -> Result<usize, String> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err("no .npy magic string".into());
    }
    let (len_start, len) = match bytes[6] {
        1 => (8, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (8, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        v => return Err(format!("unsupported format version {v}")),
    };
    let start = len_start + if bytes[6] == 1 { 2 } else { 4 };
    if len > MAX_HEADER_BYTES {
        return Err(format!("the header claims {len} bytes (numpy's limit is {MAX_HEADER_BYTES})"));
    }
    let header = bytes
        .get(start..start + len)
        .ok_or_else(|| format!("the header claims {len} bytes, past the end of the file"))?;
    let mut depth = 0usize;
    for &b in header {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err("the header is nested too deeply".into());
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.as_bytes().to_vec();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out
    }

    fn read_bytes(bytes: &[u8]) -> Result<ArrayD<f32>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("x.npy");
        std::fs::write(&path, bytes)?;
        read_f32(&path)
    }

    #[test]
    fn reads_valid_arrays() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let array = read_bytes(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &data)).unwrap();
        assert_eq!(array.shape(), &[2, 3]);
    }

    #[test]
    fn reads_integer_ids_as_whole_numbers() {
        let data: Vec<u8> = [7i32, -2, 99].iter().flat_map(|v| v.to_le_bytes()).collect();
        let array = read_bytes(&npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 3), }", &data)).unwrap();
        assert_eq!(array.into_raw_vec_and_offset().0, vec![7.0, -2.0, 99.0]);
        let data: Vec<u8> = [1i64 << 40].iter().flat_map(|v| v.to_le_bytes()).collect();
        let err = read_bytes(&npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", &data)).unwrap_err();
        assert!(format!("{err:#}").contains("2^24"), "{err:#}");
    }

    #[test]
    fn refuses_empty_arrays() {
        let err = read_bytes(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0, 4), }", &[])).unwrap_err();
        assert!(format!("{err:#}").contains("an empty array (shape [2, 0, 4])"), "{err:#}");
    }

    #[test]
    fn refuses_shape_bombs_before_allocating() {
        // Regression (mutation suite): this header made ndarray-npy allocate 4e18 bytes and abort.
        let err =
            read_bytes(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000), }", &[0; 16]))
                .unwrap_err();
        assert!(format!("{err:#}").contains("claims shape"), "{err:#}");
        let err =
            read_bytes(&npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 12, 12, 3), }", &[0; 16]))
                .unwrap_err();
        assert!(format!("{err:#}").contains("x.npy"), "{err:#}");
    }

    #[test]
    fn refuses_huge_and_nested_headers() {
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(b"{'descr'");
        assert!(format!("{:#}", read_bytes(&bytes).unwrap_err()).contains("header claims"));
        let nested =
            format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}1{}, }}", "(".repeat(500), ")".repeat(500));
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(nested.len() as u16 + 1).to_le_bytes());
        bytes.extend_from_slice(nested.as_bytes());
        bytes.push(b'\n');
        assert!(format!("{:#}", read_bytes(&bytes).unwrap_err()).contains("nested"));
        assert!(read_bytes(b"").is_err());
        assert!(read_bytes(b"\x93NUMPY\x09\x00\x00\x00").is_err());
    }
}
