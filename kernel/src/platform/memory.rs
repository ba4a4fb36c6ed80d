//! Finding the RAM: the device tree's memory node when the firmware passed one, else the
//! VideoCore mailbox (Pi 4), else the board table's default.

use crate::board::{self, Board};
use crate::dtb::DtbBoard;
use kingly_drivers::videocore_mailbox::{PropertyBuffer, VideoCoreMailbox};

/// Where the RAM size came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamSource {
    DeviceTree,
    Mailbox,
    BoardDefault,
}

impl RamSource {
    pub fn name(self) -> &'static str {
        match self {
            RamSource::DeviceTree => "device tree",
            RamSource::Mailbox => "mailbox",
            RamSource::BoardDefault => "board default",
        }
    }
}

/// The usable RAM and what else lives in it.
#[derive(Debug, Clone, Copy)]
pub struct RamInfo {
    pub base: u64,
    pub size: u64,
    pub source: RamSource,
    /// The device tree blob, to keep out of the heap.
    pub dtb: Option<(u64, u64)>,
}

const FDT_MAGIC: u32 = 0xd00d_feed;
/// Largest device tree we accept (real Pi DTBs are ~60 KiB).
const FDT_MAX_BYTES: u32 = 2 << 20;
/// Smallest: the 40-byte header.
const FDT_MIN_BYTES: u32 = 40;

/// The device tree blob at `address` (x0 at entry), if its header says one is there. Reads
/// only the header, a byte at a time (safe with the MMU off); [`crate::dtb::probe`] checks
/// the rest later.
pub fn device_tree_blob(address: usize) -> Option<&'static [u8]> {
    if address == 0 || !address.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the firmware passed `address` in x0 as the DTB; it lies in RAM that is not
    // reused before the heap starts (which excludes it). Read the 8-byte header first.
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, 8) };
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let total = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if magic != FDT_MAGIC || !(FDT_MIN_BYTES..=FDT_MAX_BYTES).contains(&total) {
        return None;
    }
    // SAFETY: as above; the header says the blob is `total` bytes long.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, total as usize) })
}

/// The ARM's RAM as the VideoCore mailbox reports it, on boards that have one. MMU off: the
/// VideoCore reads the request from memory, past the ARM's caches.
pub fn mailbox_ram(board: &Board) -> Option<(u64, u64)> {
    let base = board.mailbox_base?;
    // SAFETY: the board's mailbox; MMU off so every access is device-type.
    let mailbox = unsafe { VideoCoreMailbox::new(base as usize) };
    let mut buffer = PropertyBuffer::arm_memory_request();
    // The VideoCore sees ARM RAM below 1 GiB through the uncached alias at 0xC0000000.
    let bus_address = (&buffer as *const PropertyBuffer as u32) | 0xC000_0000;
    match mailbox.property_call(&mut buffer, bus_address).and_then(|()| buffer.arm_memory()) {
        Ok((base, size)) if size > 0 => Some((base, size)),
        Ok(_) => {
            crate::kprintln!("warning: the mailbox reported no ARM memory");
            None
        }
        Err(error) => {
            crate::kprintln!("warning: mailbox ARM-memory call failed: {error:?} {:x?}", buffer.0);
            None
        }
    }
}

/// Chooses the RAM: the device tree's region holding the kernel, else the mailbox's, else the
/// board default. `blob` is kept out of the heap whichever wins.
pub fn choose(
    board: &Board,
    tree: Option<&DtbBoard>,
    blob: Option<&[u8]>,
    mailbox: Option<(u64, u64)>,
    kernel_start: u64,
) -> RamInfo {
    let dtb = blob.map(|b| (b.as_ptr() as u64, b.len() as u64));
    if let Some(region) = tree.and_then(|tree| board::device_tree::ram_region(board, tree, kernel_start)) {
        return RamInfo { base: region.base, size: region.size, source: RamSource::DeviceTree, dtb };
    }
    if let Some((base, size)) = mailbox {
        return RamInfo { base, size, source: RamSource::Mailbox, dtb };
    }
    RamInfo { base: board.default_ram.base, size: board.default_ram.size, source: RamSource::BoardDefault, dtb }
}

/// The heap's range: the larger free stretch of RAM above the kernel image once the device
/// tree (if it lies there) is cut out, page aligned.
pub fn heap_range(ram: &RamInfo, kernel_end: u64) -> (u64, u64) {
    crate::mm::free_range_above(kernel_end, ram.base + ram.size, ram.dtb)
}
