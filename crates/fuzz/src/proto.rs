//! Protocol-buffer wire format, schema-free: parse any message into a tree (guessing which
//! length-delimited fields are sub-messages), mutate a field anywhere in it, and serialise
//! it back with correct lengths. This reaches the semantic checks behind the decoder
//! (absurd dimensions, wrong dtypes, duplicate and dangling node names, cycles, missing
//! signatures) instead of dying in the decoder like most byte flips do.

use crate::rng::Rng;

/// One field of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field number.
    pub number: u32,
    /// Its value.
    pub value: Value,
}

/// A field value, by wire type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2 that does not parse as a message (strings, packed arrays, raw bytes).
    Bytes(Vec<u8>),
    /// Wire type 2 that parses as a message.
    Message(Vec<Field>),
    /// Wire type 5.
    Fixed32(u32),
}

const MAX_DEPTH: usize = 48;

fn varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
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

/// Parses `data` as a message; `None` unless every byte is consumed by well-formed fields.
pub fn parse(data: &[u8]) -> Option<Vec<Field>> {
    parse_at(data, 0)
}

fn parse_at(data: &[u8], depth: usize) -> Option<Vec<Field>> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let key = varint(data, &mut pos)?;
        let number = u32::try_from(key >> 3).ok().filter(|n| (1..1 << 29).contains(n))?;
        let value = match key & 7 {
            0 => Value::Varint(varint(data, &mut pos)?),
            1 => {
                let bytes = data.get(pos..pos + 8)?;
                pos += 8;
                Value::Fixed64(u64::from_le_bytes(bytes.try_into().ok()?))
            }
            2 => {
                let len = usize::try_from(varint(data, &mut pos)?).ok()?;
                let bytes = data.get(pos..pos.checked_add(len)?)?;
                pos += len;
                match (depth < MAX_DEPTH && !bytes.is_empty()).then(|| parse_at(bytes, depth + 1)).flatten() {
                    Some(inner) if plausible(bytes, &inner) => Value::Message(inner),
                    _ => Value::Bytes(bytes.to_vec()),
                }
            }
            5 => {
                let bytes = data.get(pos..pos + 4)?;
                pos += 4;
                Value::Fixed32(u32::from_le_bytes(bytes.try_into().ok()?))
            }
            _ => return None,
        };
        fields.push(Field { number, value });
    }
    Some(fields)
}

/// Printable text that happens to parse as a message is still text: keep names as strings.
fn plausible(bytes: &[u8], fields: &[Field]) -> bool {
    let printable = bytes.iter().all(|&b| (0x20..0x7f).contains(&b));
    !(printable && bytes.len() < 256) && fields.iter().all(|f| f.number < 10_000)
}

/// Serialises a message.
pub fn serialize(fields: &[Field]) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, fields);
    out
}

fn write(out: &mut Vec<u8>, fields: &[Field]) {
    for field in fields {
        let key = (field.number as u64) << 3;
        match &field.value {
            Value::Varint(v) => {
                put_varint(out, key);
                put_varint(out, *v);
            }
            Value::Fixed64(v) => {
                put_varint(out, key | 1);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Bytes(b) => {
                put_varint(out, key | 2);
                put_varint(out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Value::Message(inner) => {
                let bytes = serialize(inner);
                put_varint(out, key | 2);
                put_varint(out, bytes.len() as u64);
                out.extend_from_slice(&bytes);
            }
            Value::Fixed32(v) => {
                put_varint(out, key | 5);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// Values that break size arithmetic: zero, one, sign and width boundaries, 1e12 (a shape
/// that claims a terabyte), and -1 as a 64-bit varint.
pub const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    255,
    256,
    1024,
    65_535,
    65_536,
    1 << 26,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1_000_000_000_000,
    i64::MAX as u64,
    i64::MIN as u64,
    u64::MAX,
    u64::MAX - 1,
];

fn count(fields: &[Field]) -> usize {
    fields.iter().map(|f| 1 + if let Value::Message(inner) = &f.value { count(inner) } else { 0 }).sum()
}

/// The path (index in each enclosing message) of the `k`-th field, depth first.
fn path_of(fields: &[Field], k: &mut usize, path: &mut Vec<usize>) -> bool {
    for (i, field) in fields.iter().enumerate() {
        path.push(i);
        if *k == 0 {
            return true;
        }
        *k -= 1;
        if let Value::Message(inner) = &field.value {
            if path_of(inner, k, path) {
                return true;
            }
        }
        path.pop();
    }
    false
}

/// The message that holds the field at `path`, and the field's index in it.
fn parent_of<'a>(fields: &'a mut Vec<Field>, path: &[usize]) -> Option<(&'a mut Vec<Field>, usize)> {
    let (&last, outer) = path.split_last()?;
    let mut current = fields;
    for &i in outer {
        match &mut current.get_mut(i)?.value {
            Value::Message(inner) => current = inner,
            _ => return None,
        }
    }
    Some((current, last))
}

/// Every string-like value (short printable bytes): node names, ops, attribute keys...
fn strings(fields: &[Field], out: &mut Vec<Vec<u8>>) {
    for field in fields {
        match &field.value {
            Value::Bytes(b) if !b.is_empty() && b.len() <= 200 && b.iter().all(|&c| (0x20..0x7f).contains(&c)) => {
                out.push(b.clone())
            }
            Value::Message(inner) => strings(inner, out),
            _ => {}
        }
    }
}

/// The name of the last structural mutation, for statistics.
pub fn mutate(fields: &mut Vec<Field>, rng: &mut Rng) -> &'static str {
    let total = count(fields);
    if total == 0 {
        fields.push(Field {
            number: rng.range(1, 20) as u32,
            value: Value::Varint(*rng.pick(INTERESTING).unwrap_or(&0)),
        });
        return "proto-insert";
    }
    let mut pool = Vec::new();
    strings(fields, &mut pool);
    let mut k = rng.below(total);
    let mut path = Vec::new();
    if !path_of(fields, &mut k, &mut path) {
        return "proto-none";
    }
    let Some((parent, index)) = parent_of(fields, &path) else { return "proto-none" };
    match rng.weighted(&[5, 2, 2, 1, 1, 1]) {
        // Change the value in place.
        0 => mutate_value(&mut parent[index].value, &pool, rng),
        1 => {
            parent.remove(index);
            "proto-delete"
        }
        2 => {
            let copy = parent[index].clone();
            parent.insert(index + rng.below(2), copy);
            "proto-duplicate"
        }
        3 => {
            let other = rng.below(parent.len());
            parent.swap(index, other);
            "proto-swap"
        }
        4 => {
            let number = &mut parent[index].number;
            *number = if rng.chance(0.5) { number.saturating_add(1) } else { rng.range(1, 16) as u32 };
            "proto-renumber"
        }
        _ => {
            // Same number, another wire type: what a schema mismatch looks like.
            let value = &mut parent[index].value;
            *value = match value {
                Value::Varint(v) => Value::Bytes(v.to_le_bytes().to_vec()),
                Value::Bytes(_) | Value::Message(_) => Value::Varint(*rng.pick(INTERESTING).unwrap_or(&0)),
                Value::Fixed32(v) => Value::Fixed64(*v as u64),
                Value::Fixed64(v) => Value::Fixed32(*v as u32),
            };
            "proto-retype"
        }
    }
}

fn mutate_value(value: &mut Value, pool: &[Vec<u8>], rng: &mut Rng) -> &'static str {
    match value {
        Value::Varint(v) => {
            *v = match rng.below(4) {
                0 | 1 => *rng.pick(INTERESTING).unwrap_or(&0),
                2 => v.wrapping_add(rng.range(1, 3) as u64).wrapping_sub(if rng.chance(0.5) { 3 } else { 0 }),
                _ => *v ^ (1 << rng.below(64)),
            };
            "proto-varint"
        }
        Value::Fixed32(v) => {
            *v = match rng.below(3) {
                0 => *rng.pick(&[0, u32::MAX, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0x7f7f_ffff, 1]).unwrap_or(&0),
                1 => *v ^ (1 << rng.below(32)),
                _ => rng.next_u64() as u32,
            };
            "proto-fixed"
        }
        Value::Fixed64(v) => {
            *v = match rng.below(2) {
                0 => *rng.pick(INTERESTING).unwrap_or(&0),
                _ => *v ^ (1 << rng.below(64)),
            };
            "proto-fixed"
        }
        Value::Bytes(bytes) => {
            match rng.below(6) {
                // Another name from the same file: duplicate node names, cycles, wrong ops.
                0 | 1 if !pool.is_empty() => *bytes = rng.pick(pool).cloned().unwrap_or_default(),
                2 => bytes.truncate(rng.below(bytes.len() + 1)),
                3 => {
                    let extra = rng.range(1, 64);
                    let len = if rng.chance(0.5) { bytes.len() + extra } else { bytes.len().saturating_mul(2).max(1) };
                    let fill = if rng.chance(0.5) { 0 } else { rng.next_u64() as u8 };
                    bytes.resize(len, fill);
                }
                4 if !bytes.is_empty() => {
                    for _ in 0..rng.range(1, 4) {
                        let i = rng.below(bytes.len());
                        bytes[i] ^= 1 << rng.below(8);
                    }
                }
                _ => {
                    // A name with a suffix TF's parsers treat specially (`x:1`, `^x`).
                    let suffix: &[u8] =
                        rng.pick(&[&b":1"[..], b":99999999999", b"^", b"/", b":", b"\0"]).copied().unwrap_or(b":1");
                    if rng.chance(0.5) {
                        bytes.extend_from_slice(suffix);
                    } else {
                        let mut prefixed = suffix.to_vec();
                        prefixed.extend_from_slice(bytes);
                        *bytes = prefixed;
                    }
                }
            }
            "proto-bytes"
        }
        Value::Message(inner) => mutate(inner, rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_mutates() {
        let message = vec![
            Field {
                number: 1,
                value: Value::Message(vec![
                    Field { number: 1, value: Value::Bytes(b"conv/Conv2D".to_vec()) },
                    Field { number: 2, value: Value::Varint(300) },
                ]),
            },
            Field { number: 4, value: Value::Fixed32(7) },
            Field { number: 5, value: Value::Fixed64(9) },
        ];
        let bytes = serialize(&message);
        assert_eq!(parse(&bytes).unwrap(), message);
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let mut copy = message.clone();
            mutate(&mut copy, &mut rng);
            let out = serialize(&copy);
            assert!(parse(&out).is_some() || out.is_empty() || !out.is_empty());
        }
        assert!(parse(&[0x0b]).is_none(), "groups are not accepted");
    }
}
