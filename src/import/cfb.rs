//! Just enough of the OLE2 compound file format ([MS-CFB]) to tell what an OLE2 file holds and
//! to read one stream of it, with every offset checked.
//!
//! An OLE2 file is the container of `.xls` workbooks (stream `Workbook`, or `Book` for Excel 5),
//! of password-protected `.xlsx` files (streams `EncryptionInfo` and `EncryptedPackage`), and
//! of old Word and PowerPoint documents. calamine has its own reader but does not expose the
//! directory, and sniffing must name what it finds before calamine is asked anything.
//!
//! [MS-CFB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cfb/

/// The eight bytes every compound file starts with.
pub(crate) const MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Sector numbers at and above this are markers (end of chain, free, FAT, DIFAT), not sectors.
const MAX_REGULAR_SECTOR: u32 = 0xFFFF_FFFA;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;

/// One directory entry: a storage (folder) or a stream (file).
#[derive(Debug, Clone)]
pub(crate) struct DirEntry {
    pub(crate) name: String,
    /// 1 storage, 2 stream, 5 root.
    kind: u8,
    start: u32,
    size: u64,
}

/// A parsed compound file over borrowed bytes.
pub(crate) struct CompoundFile<'a> {
    bytes: &'a [u8],
    sector_size: usize,
    mini_sector_size: usize,
    mini_cutoff: u64,
    fat: Vec<u32>,
    mini_fat_start: u32,
    pub(crate) entries: Vec<DirEntry>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> CompoundFile<'a> {
    /// Parses the header, the allocation table and the directory. `Err` says what is wrong,
    /// in words fit for a message.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<CompoundFile<'a>, &'static str> {
        if bytes.len() < 512 || bytes[..8] != MAGIC {
            return Err("the file is shorter than its header");
        }
        let damaged = "its header is damaged";
        let sector_shift = u16_at(bytes, 0x1E).ok_or(damaged)?;
        let mini_shift = u16_at(bytes, 0x20).ok_or(damaged)?;
        if !(sector_shift == 9 || sector_shift == 12) || mini_shift != 6 {
            return Err(damaged);
        }
        let sector_size = 1usize << sector_shift;
        let mut cf = CompoundFile {
            bytes,
            sector_size,
            mini_sector_size: 1 << mini_shift,
            mini_cutoff: u64::from(u32_at(bytes, 0x38).ok_or(damaged)?),
            fat: Vec::new(),
            mini_fat_start: u32_at(bytes, 0x3C).ok_or(damaged)?,
            entries: Vec::new(),
        };
        let fat_sectors = cf.fat_sector_ids()?;
        let mut fat = Vec::with_capacity(fat_sectors.len() * sector_size / 4);
        for id in fat_sectors {
            let sector = cf.sector(id).ok_or("its allocation table is truncated")?;
            fat.extend(sector.chunks_exact(4).filter_map(|c| u32_at(c, 0)));
        }
        cf.fat = fat;
        let dir_start = u32_at(bytes, 0x30).ok_or(damaged)?;
        let directory = cf.read_chain(dir_start, None)?;
        let major = u16_at(bytes, 0x1A).ok_or(damaged)?;
        for raw in directory.chunks_exact(128) {
            let kind = raw[0x42];
            if kind == 0 {
                continue; // unused slot
            }
            let name_len = usize::from(u16_at(raw, 0x40).unwrap_or(0)).min(64);
            let units: Vec<u16> = raw[..name_len]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            let mut size = u64_at(raw, 0x78).unwrap_or(0);
            if major == 3 {
                size &= 0xFFFF_FFFF; // version 3 files leave the high half undefined
            }
            cf.entries.push(DirEntry {
                name: String::from_utf16_lossy(&units),
                kind,
                start: u32_at(raw, 0x74).unwrap_or(END_OF_CHAIN),
                size,
            });
        }
        if cf.entries.first().map(|e| e.kind) != Some(5) {
            return Err("its directory has no root");
        }
        Ok(cf)
    }

    /// The sector ids of the allocation table: 109 in the header, then chained DIFAT sectors.
    fn fat_sector_ids(&self) -> Result<Vec<u32>, &'static str> {
        let damaged = "its allocation table is damaged";
        let count = u32_at(self.bytes, 0x2C).ok_or(damaged)? as usize;
        if count > self.bytes.len() / self.sector_size {
            return Err(damaged);
        }
        let mut ids: Vec<u32> =
            (0..109).filter_map(|i| u32_at(self.bytes, 0x4C + 4 * i)).take(count).collect();
        let mut next = u32_at(self.bytes, 0x44).ok_or(damaged)?;
        let mut hops = 0;
        while ids.len() < count && next < MAX_REGULAR_SECTOR {
            hops += 1;
            if hops > self.bytes.len() / self.sector_size {
                return Err(damaged);
            }
            let sector = self.sector(next).ok_or(damaged)?;
            let per = self.sector_size / 4 - 1;
            ids.extend((0..per).filter_map(|i| u32_at(sector, 4 * i)).take(count - ids.len()));
            next = u32_at(sector, 4 * per).ok_or(damaged)?;
        }
        if ids.len() < count {
            return Err(damaged);
        }
        Ok(ids)
    }

    fn sector(&self, id: u32) -> Option<&'a [u8]> {
        let start = (id as usize).checked_add(1)?.checked_mul(self.sector_size)?;
        self.bytes.get(start..start.checked_add(self.sector_size)?)
    }

    /// Follows a chain in the allocation table, concatenating its sectors; stops at `limit`
    /// bytes when given. A loop or a sector past the end of the file is an error.
    fn read_chain(&self, start: u32, limit: Option<u64>) -> Result<Vec<u8>, &'static str> {
        let mut out = Vec::new();
        let mut id = start;
        let mut hops = 0usize;
        while id < MAX_REGULAR_SECTOR {
            if limit.is_some_and(|l| out.len() as u64 >= l) {
                break;
            }
            hops += 1;
            if hops > self.fat.len() {
                return Err("a chain of sectors loops");
            }
            out.extend_from_slice(self.sector(id).ok_or("the file is truncated")?);
            id = *self.fat.get(id as usize).ok_or("a chain of sectors leaves the table")?;
        }
        if let Some(l) = limit {
            out.truncate(usize::try_from(l).unwrap_or(usize::MAX));
        }
        Ok(out)
    }

    /// The stream entry with this name (compared ignoring ASCII case, as the format says).
    pub(crate) fn stream(&self, name: &str) -> Option<&DirEntry> {
        self.entries.iter().find(|e| e.kind == 2 && e.name.eq_ignore_ascii_case(name))
    }

    /// The content of a stream, from the regular sectors or the mini stream.
    pub(crate) fn read_stream(&self, entry: &DirEntry) -> Result<Vec<u8>, &'static str> {
        if entry.size > self.bytes.len() as u64 {
            return Err("a stream is larger than the file");
        }
        if entry.size >= self.mini_cutoff {
            return self.read_chain(entry.start, Some(entry.size));
        }
        // Small streams live in 64-byte sectors inside the root entry's stream.
        let root = &self.entries[0];
        let mini_stream = self.read_chain(root.start, Some(root.size))?;
        let mini_fat: Vec<u32> = self
            .read_chain(self.mini_fat_start, None)?
            .chunks_exact(4)
            .filter_map(|c| u32_at(c, 0))
            .collect();
        let mut out = Vec::new();
        let mut id = entry.start;
        let mut hops = 0usize;
        while id < MAX_REGULAR_SECTOR && (out.len() as u64) < entry.size {
            hops += 1;
            if hops > mini_fat.len() {
                return Err("a chain of mini sectors loops");
            }
            let start = (id as usize) * self.mini_sector_size;
            let sector = mini_stream
                .get(start..start + self.mini_sector_size)
                .ok_or("the mini stream is truncated")?;
            out.extend_from_slice(sector);
            id = *mini_fat.get(id as usize).ok_or("a chain of mini sectors leaves the table")?;
        }
        out.truncate(usize::try_from(entry.size).unwrap_or(usize::MAX));
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A version 3 compound file (512-byte sectors) holding the given streams, each stored in
    /// regular sectors (mini cutoff set to 0 so no mini stream is needed).
    pub(crate) fn compound_file(streams: &[(&str, &[u8])]) -> Vec<u8> {
        const SECTOR: usize = 512;
        let sectors_of = |n: usize| n.div_ceil(SECTOR).max(1);
        // Layout: sector 0 = FAT, sector 1.. = directory, then each stream.
        let dir_entries = streams.len() + 1;
        let dir_sectors = sectors_of(dir_entries * 128);
        let mut fat = vec![0xFFFF_FFFDu32]; // sector 0 is the FAT itself
        let chain = |fat: &mut Vec<u32>, count: usize| -> u32 {
            let first = fat.len() as u32;
            for i in 0..count {
                let next = if i + 1 == count { END_OF_CHAIN } else { first + i as u32 + 1 };
                fat.push(next);
            }
            first
        };
        let dir_start = chain(&mut fat, dir_sectors);
        let starts: Vec<u32> =
            streams.iter().map(|(_, data)| chain(&mut fat, sectors_of(data.len()))).collect();
        assert!(fat.len() <= SECTOR / 4, "one FAT sector is enough for tests");
        fat.resize(SECTOR / 4, 0xFFFF_FFFF);

        let mut header = vec![0u8; 512];
        header[..8].copy_from_slice(&MAGIC);
        header[0x18..0x1A].copy_from_slice(&0x3Eu16.to_le_bytes());
        header[0x1A..0x1C].copy_from_slice(&3u16.to_le_bytes());
        header[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes());
        header[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes());
        header[0x20..0x22].copy_from_slice(&6u16.to_le_bytes());
        header[0x2C..0x30].copy_from_slice(&1u32.to_le_bytes());
        header[0x30..0x34].copy_from_slice(&dir_start.to_le_bytes());
        header[0x38..0x3C].copy_from_slice(&0u32.to_le_bytes());
        header[0x3C..0x40].copy_from_slice(&END_OF_CHAIN.to_le_bytes());
        header[0x44..0x48].copy_from_slice(&END_OF_CHAIN.to_le_bytes());
        for i in 0..109 {
            let id: u32 = if i == 0 { 0 } else { 0xFFFF_FFFF };
            header[0x4C + 4 * i..0x50 + 4 * i].copy_from_slice(&id.to_le_bytes());
        }

        let entry = |name: &str, kind: u8, start: u32, size: u64| {
            let mut raw = vec![0u8; 128];
            let units: Vec<u16> = name.encode_utf16().chain([0]).collect();
            for (i, u) in units.iter().enumerate() {
                raw[2 * i..2 * i + 2].copy_from_slice(&u.to_le_bytes());
            }
            raw[0x40..0x42].copy_from_slice(&((units.len() * 2) as u16).to_le_bytes());
            raw[0x42] = kind;
            raw[0x74..0x78].copy_from_slice(&start.to_le_bytes());
            raw[0x78..0x80].copy_from_slice(&size.to_le_bytes());
            raw
        };
        let mut directory = entry("Root Entry", 5, END_OF_CHAIN, 0);
        for ((name, data), start) in streams.iter().zip(&starts) {
            directory.extend(entry(name, 2, *start, data.len() as u64));
        }
        directory.resize(dir_sectors * SECTOR, 0);

        let mut out = header;
        out.extend(fat.iter().flat_map(|v| v.to_le_bytes()));
        out.extend(directory);
        for (_, data) in streams {
            let mut padded = data.to_vec();
            padded.resize(sectors_of(data.len()) * SECTOR, 0);
            out.extend(padded);
        }
        out
    }

    #[test]
    fn streams_are_listed_and_read_back() {
        let big = vec![7u8; 1500];
        let bytes = compound_file(&[("EncryptionInfo", b"info"), ("EncryptedPackage", &big)]);
        let cf = CompoundFile::parse(&bytes).unwrap();
        let names: Vec<_> = cf.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Root Entry", "EncryptionInfo", "EncryptedPackage"]);
        let package = cf.stream("encryptedpackage").unwrap();
        assert_eq!(cf.read_stream(package).unwrap(), big);
        assert_eq!(cf.read_stream(cf.stream("EncryptionInfo").unwrap()).unwrap(), b"info");
    }

    #[test]
    fn damaged_files_are_refused_not_panicked_on() {
        let bytes = compound_file(&[("Workbook", &[1; 600])]);
        assert!(CompoundFile::parse(&bytes[..512]).is_err(), "no sectors after the header");
        let mut looped = bytes.clone();
        // Make the directory chain point at itself.
        looped[512 + 4..512 + 8].copy_from_slice(&1u32.to_le_bytes());
        let cf = CompoundFile::parse(&looped);
        assert!(cf.is_err(), "a looping chain is an error");
        for cut in [520, 1000, 1100] {
            let _ = CompoundFile::parse(&bytes[..cut]);
        }
    }
}
