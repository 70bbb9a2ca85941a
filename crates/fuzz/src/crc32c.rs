//! CRC32C with LevelDB's mask: what TF tables and checkpoints store, so mutations can keep
//! checksums valid and reach the parsers behind them.

const fn table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

const TABLE: [u32; 256] = table();

/// CRC32C of `data`, continuing `crc`.
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// LevelDB's mask of a stored CRC.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_value() {
        // RFC 3720 test vector: 32 zero bytes.
        assert_eq!(super::extend(0, &[0u8; 32]), 0x8a91_36aa);
    }
}
