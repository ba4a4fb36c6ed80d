//! virtio console (device ID 3) on the virtio-mmio transport, modern interface (version 2):
//! discovery by magic and device ID, feature negotiation (VIRTIO_F_VERSION_1 only, so a single
//! port), and split virtqueues for port 0's receive and transmit queues.
//!
//! The driver never blocks: received bytes are taken from the used ring when the caller asks,
//! and a write that finds every transmit buffer in flight is refused so the caller can retry
//! (the message port retransmits anyway). The device interrupt only has to wake the core.
//!
//! # Resources
//! - Virtual I/O Device (VIRTIO) Version 1.2, §2.1 "Device Status Field", §2.2 "Feature Bits",
//!   §2.7 "Split Virtqueues", §3.1.1 "Driver Requirements: Device Initialization",
//!   §4.2.2 "MMIO Device Register Layout", §5.3 "Console Device".
//! - QEMU `hw/virtio/virtio-mmio.c`: transports are legacy (version 1) unless
//!   `-global virtio-mmio.force-legacy=false`.

use crate::mmio::Mmio;
use core::cell::UnsafeCell;
use core::sync::atomic::{fence, AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// virtio-mmio transport registers (VIRTIO 1.2 §4.2.2, "MMIO Device Register Layout").
    #[allow(non_snake_case)]
    pub VirtioMmioRegisters {
        /// 0x74726976 ("virt").
        (0x000 => MagicValue: ReadOnly<u32>),
        /// Device version number: 2 for the modern interface, 1 for legacy.
        (0x004 => Version: ReadOnly<u32>),
        /// Virtio subsystem device ID; 0 means no device behind this transport.
        (0x008 => DeviceID: ReadOnly<u32>),
        (0x00c => VendorID: ReadOnly<u32>),
        /// Flags the device supports, 32 bits at a time selected by DeviceFeaturesSel.
        (0x010 => DeviceFeatures: ReadOnly<u32>),
        (0x014 => DeviceFeaturesSel: WriteOnly<u32>),
        (0x018 => _reserved0),
        /// Flags the driver accepts, 32 bits at a time selected by DriverFeaturesSel.
        (0x020 => DriverFeatures: WriteOnly<u32>),
        (0x024 => DriverFeaturesSel: WriteOnly<u32>),
        (0x028 => _reserved1),
        /// Selects the queue the Queue* registers refer to.
        (0x030 => QueueSel: WriteOnly<u32>),
        /// Largest queue size the device accepts; 0 if the queue does not exist.
        (0x034 => QueueNumMax: ReadOnly<u32>),
        /// Queue size the driver uses.
        (0x038 => QueueNum: WriteOnly<u32>),
        (0x03c => _reserved2),
        (0x044 => QueueReady: ReadWrite<u32>),
        (0x048 => _reserved3),
        /// Writing a queue index tells the device there are new buffers in it.
        (0x050 => QueueNotify: WriteOnly<u32>),
        (0x054 => _reserved4),
        /// Bit 0: used buffer notification; bit 1: configuration change.
        (0x060 => InterruptStatus: ReadOnly<u32>),
        (0x064 => InterruptACK: WriteOnly<u32>),
        (0x068 => _reserved5),
        /// Device status (§2.1); writing 0 resets the device.
        (0x070 => Status: ReadWrite<u32>),
        (0x074 => _reserved6),
        (0x080 => QueueDescLow: WriteOnly<u32>),
        (0x084 => QueueDescHigh: WriteOnly<u32>),
        (0x088 => _reserved7),
        (0x090 => QueueDriverLow: WriteOnly<u32>),
        (0x094 => QueueDriverHigh: WriteOnly<u32>),
        (0x098 => _reserved8),
        (0x0a0 => QueueDeviceLow: WriteOnly<u32>),
        (0x0a4 => QueueDeviceHigh: WriteOnly<u32>),
        (0x0a8 => _reserved9),
        (0x0fc => ConfigGeneration: ReadOnly<u32>),
        (0x100 => @END),
    }
}

/// "virt" in little-endian ASCII.
pub const MAGIC: u32 = 0x7472_6976;
/// Device ID of a console (§5.3.1).
pub const DEVICE_ID_CONSOLE: u32 = 3;
/// Bytes between consecutive virtio-mmio transports on QEMU `virt`.
pub const TRANSPORT_STRIDE: usize = 0x200;

/// Device status bits (§2.1).
mod status {
    pub const ACKNOWLEDGE: u32 = 1;
    pub const DRIVER: u32 = 2;
    pub const DRIVER_OK: u32 = 4;
    pub const FEATURES_OK: u32 = 8;
    pub const FAILED: u32 = 128;
}

/// VIRTIO_F_VERSION_1 (feature bit 32, so bit 0 of the second feature word): the modern
/// interface.
const FEATURE_VERSION_1_HIGH_BIT: u32 = 1;

/// Console queue indices without VIRTIO_CONSOLE_F_MULTIPORT (§5.3.2).
const RECEIVEQ: u32 = 0;
const TRANSMITQ: u32 = 1;

/// Entries in each virtqueue.
pub const QUEUE_SIZE: usize = 16;
/// Bytes in each buffer: a whole message-port frame (at most 1 KiB) fits in one.
pub const BUFFER_BYTES: usize = 2048;

/// Descriptor flags (§2.7.5).
const VIRTQ_DESC_F_WRITE: u16 = 2;
/// Available ring flag: do not interrupt when this queue's buffers are used (§2.7.7).
const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;

/// Why a transport could not be brought up as a console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioError {
    /// The magic value is not "virt": no virtio-mmio transport at this address.
    NotVirtio,
    /// The transport is empty (device ID 0).
    NoDevice,
    /// The transport holds another kind of device.
    NotConsole { device_id: u32 },
    /// The transport speaks the legacy interface (version 1).
    LegacyTransport,
    /// The device does not offer VIRTIO_F_VERSION_1.
    NoVersion1,
    /// The device did not accept the negotiated features.
    FeaturesRejected,
    /// A queue is missing, already live, or smaller than [`QUEUE_SIZE`].
    QueueUnavailable { queue: u32, max_size: u32 },
    /// The queue memory was already given to a device.
    MemoryInUse,
}

impl core::fmt::Display for VirtioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotVirtio => f.write_str("no virtio-mmio transport (bad magic value)"),
            Self::NoDevice => f.write_str("the virtio-mmio transport is empty"),
            Self::NotConsole { device_id } => write!(f, "virtio device {device_id} is not a console (3)"),
            Self::LegacyTransport => f.write_str(
                "legacy virtio-mmio transport (version 1); start QEMU with -global virtio-mmio.force-legacy=false",
            ),
            Self::NoVersion1 => f.write_str("the device does not offer VIRTIO_F_VERSION_1"),
            Self::FeaturesRejected => f.write_str("the device refused the features (FEATURES_OK not kept)"),
            Self::QueueUnavailable { queue, max_size } => {
                write!(f, "virtqueue {queue} unusable (max size {max_size}, need {QUEUE_SIZE})")
            }
            Self::MemoryInUse => f.write_str("the virtqueue memory is already in use"),
        }
    }
}

/// One descriptor of the table (§2.7.5): a buffer's guest-physical address and length.
#[repr(C, align(16))]
struct Descriptor {
    address: AtomicU64,
    length: AtomicU32,
    flags: AtomicU16,
    next: AtomicU16,
}

/// The driver area (§2.7.6): buffers the driver offers.
#[repr(C, align(2))]
struct AvailableRing {
    flags: AtomicU16,
    index: AtomicU16,
    ring: [AtomicU16; QUEUE_SIZE],
    used_event: AtomicU16,
}

#[repr(C)]
struct UsedElement {
    id: AtomicU32,
    length: AtomicU32,
}

/// The device area (§2.7.8): buffers the device is done with.
#[repr(C, align(4))]
struct UsedRing {
    flags: AtomicU16,
    index: AtomicU16,
    ring: [UsedElement; QUEUE_SIZE],
    avail_event: AtomicU16,
}

/// Memory for one split virtqueue and its buffers, shared with the device. Give each
/// instance to one queue only; it must sit at its physical address (identity map).
#[repr(C, align(4096))]
pub struct QueueMemory {
    descriptors: [Descriptor; QUEUE_SIZE],
    available: AvailableRing,
    used: UsedRing,
    buffers: [UnsafeCell<[u8; BUFFER_BYTES]>; QUEUE_SIZE],
    claimed: AtomicBool,
}

// SAFETY: the rings are atomics; a buffer is touched by the driver only while it owns the
// descriptor (not in the available ring), and `claimed` gives the memory to one driver.
unsafe impl Sync for QueueMemory {}

impl QueueMemory {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self {
            descriptors: [const {
                Descriptor {
                    address: AtomicU64::new(0),
                    length: AtomicU32::new(0),
                    flags: AtomicU16::new(0),
                    next: AtomicU16::new(0),
                }
            }; QUEUE_SIZE],
            available: AvailableRing {
                flags: AtomicU16::new(0),
                index: AtomicU16::new(0),
                ring: [const { AtomicU16::new(0) }; QUEUE_SIZE],
                used_event: AtomicU16::new(0),
            },
            used: UsedRing {
                flags: AtomicU16::new(0),
                index: AtomicU16::new(0),
                ring: [const { UsedElement { id: AtomicU32::new(0), length: AtomicU32::new(0) } }; QUEUE_SIZE],
                avail_event: AtomicU16::new(0),
            },
            buffers: [const { UnsafeCell::new([0; BUFFER_BYTES]) }; QUEUE_SIZE],
            claimed: AtomicBool::new(false),
        }
    }

    fn buffer_address(&self, id: usize) -> u64 {
        self.buffers[id].get() as u64
    }
}

/// The driver's side of one split virtqueue.
struct Virtqueue {
    memory: &'static QueueMemory,
    /// Next free slot of the available ring (free-running).
    next_available: u16,
    /// Used entries consumed so far (free-running).
    last_used: u16,
}

impl Virtqueue {
    fn new(memory: &'static QueueMemory) -> Result<Self, VirtioError> {
        if memory.claimed.swap(true, Ordering::AcqRel) {
            return Err(VirtioError::MemoryInUse);
        }
        Ok(Self { memory, next_available: 0, last_used: 0 })
    }

    /// Puts descriptor `id`, holding `length` bytes, in the available ring.
    fn offer(&mut self, id: u16, length: u32, flags: u16) {
        let m = self.memory;
        let descriptor = &m.descriptors[usize::from(id)];
        descriptor.address.store(m.buffer_address(usize::from(id)), Ordering::Relaxed);
        descriptor.length.store(length, Ordering::Relaxed);
        descriptor.flags.store(flags, Ordering::Relaxed);
        m.available.ring[usize::from(self.next_available) % QUEUE_SIZE].store(id, Ordering::Relaxed);
        self.next_available = self.next_available.wrapping_add(1);
        // Release: the descriptor and ring entry are visible before the index that covers them.
        m.available.index.store(self.next_available, Ordering::Release);
    }

    /// The next buffer the device returned: (descriptor id, bytes written).
    fn take_used(&mut self) -> Option<(u16, u32)> {
        let m = self.memory;
        // Acquire: the element and the buffer's bytes are read after the index that covers them.
        if m.used.index.load(Ordering::Acquire) == self.last_used {
            return None;
        }
        let element = &m.used.ring[usize::from(self.last_used) % QUEUE_SIZE];
        self.last_used = self.last_used.wrapping_add(1);
        let id = element.id.load(Ordering::Relaxed);
        let length = element.length.load(Ordering::Relaxed);
        // A device returning an id it was never given is ignored rather than trusted.
        let id = u16::try_from(id).ok().filter(|&id| usize::from(id) < QUEUE_SIZE)?;
        Some((id, length.min(BUFFER_BYTES as u32)))
    }

    fn physical_addresses(&self) -> (u64, u64, u64) {
        let m = self.memory;
        (m.descriptors.as_ptr() as u64, &m.available as *const AvailableRing as u64, &m.used as *const UsedRing as u64)
    }
}

/// A received buffer being handed out: descriptor id, bytes in it, bytes already taken.
#[derive(Clone, Copy)]
struct Pending {
    id: u16,
    length: usize,
    taken: usize,
}

/// Counters of the console driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsoleStats {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Writes refused because every transmit buffer was in flight.
    pub tx_busy: u64,
    pub interrupts: u64,
}

/// A virtio console driven through port 0.
pub struct VirtioConsole {
    registers: Mmio<VirtioMmioRegisters>,
    receive: Virtqueue,
    transmit: Virtqueue,
    /// Transmit descriptors not in flight.
    free_transmit: heapless_stack::Stack,
    pending: Option<Pending>,
    stats: ConsoleStats,
}

/// Reads a transport's magic value and device ID.
///
/// # Safety
/// `base` must be mapped as device memory and hold a virtio-mmio transport (or read as
/// something harmless, as unpopulated QEMU `virt` slots do).
pub unsafe fn probe(base: usize) -> Result<u32, VirtioError> {
    // SAFETY: the caller's contract.
    let registers: Mmio<VirtioMmioRegisters> = unsafe { Mmio::new(base) };
    if registers.MagicValue.get() != MAGIC {
        return Err(VirtioError::NotVirtio);
    }
    match registers.DeviceID.get() {
        0 => Err(VirtioError::NoDevice),
        id => Ok(id),
    }
}

impl VirtioConsole {
    /// Initializes the console behind the transport at `base` (VIRTIO 1.2 §3.1.1) with queue
    /// memory `receive` and `transmit`, and offers every receive buffer to the device.
    ///
    /// # Safety
    /// `base` must be the mapped (device memory) address of a virtio-mmio transport that
    /// nothing else drives, and the queue memory must be identity-mapped (its address is the
    /// physical address the device is given).
    pub unsafe fn new(
        base: usize,
        receive: &'static QueueMemory,
        transmit: &'static QueueMemory,
    ) -> Result<Self, VirtioError> {
        // SAFETY: the caller's contract.
        let device_id = unsafe { probe(base) }?;
        if device_id != DEVICE_ID_CONSOLE {
            return Err(VirtioError::NotConsole { device_id });
        }
        // SAFETY: the caller's contract.
        let registers: Mmio<VirtioMmioRegisters> = unsafe { Mmio::new(base) };
        if registers.Version.get() < 2 {
            return Err(VirtioError::LegacyTransport);
        }
        let mut console = Self {
            registers,
            receive: Virtqueue::new(receive)?,
            transmit: Virtqueue::new(transmit)?,
            free_transmit: heapless_stack::Stack::full(),
            pending: None,
            stats: ConsoleStats::default(),
        };
        if let Err(error) = console.initialize() {
            let r = &console.registers;
            r.Status.set(r.Status.get() | status::FAILED);
            return Err(error);
        }
        Ok(console)
    }

    fn initialize(&mut self) -> Result<(), VirtioError> {
        let r = &self.registers;
        r.Status.set(0);
        while r.Status.get() != 0 {}
        r.Status.set(status::ACKNOWLEDGE);
        r.Status.set(status::ACKNOWLEDGE | status::DRIVER);
        r.DeviceFeaturesSel.set(1);
        if r.DeviceFeatures.get() & FEATURE_VERSION_1_HIGH_BIT == 0 {
            return Err(VirtioError::NoVersion1);
        }
        // Only VERSION_1: no SIZE, MULTIPORT or EMERG_WRITE, so port 0 uses queues 0 and 1.
        r.DriverFeaturesSel.set(0);
        r.DriverFeatures.set(0);
        r.DriverFeaturesSel.set(1);
        r.DriverFeatures.set(FEATURE_VERSION_1_HIGH_BIT);
        r.Status.set(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        if r.Status.get() & status::FEATURES_OK == 0 {
            return Err(VirtioError::FeaturesRejected);
        }
        // The transmit queue is reclaimed on the next write; it needs no interrupts.
        self.transmit.memory.available.flags.store(VIRTQ_AVAIL_F_NO_INTERRUPT, Ordering::Relaxed);
        for (index, queue) in [(RECEIVEQ, &self.receive), (TRANSMITQ, &self.transmit)] {
            r.QueueSel.set(index);
            let max_size = r.QueueNumMax.get();
            if r.QueueReady.get() != 0 || (max_size as usize) < QUEUE_SIZE {
                return Err(VirtioError::QueueUnavailable { queue: index, max_size });
            }
            r.QueueNum.set(QUEUE_SIZE as u32);
            let (descriptors, driver, device) = queue.physical_addresses();
            r.QueueDescLow.set(descriptors as u32);
            r.QueueDescHigh.set((descriptors >> 32) as u32);
            r.QueueDriverLow.set(driver as u32);
            r.QueueDriverHigh.set((driver >> 32) as u32);
            r.QueueDeviceLow.set(device as u32);
            r.QueueDeviceHigh.set((device >> 32) as u32);
            r.QueueReady.set(1);
        }
        for id in 0..QUEUE_SIZE as u16 {
            self.receive.offer(id, BUFFER_BYTES as u32, VIRTQ_DESC_F_WRITE);
        }
        r.Status.set(status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK);
        self.notify(RECEIVEQ);
        Ok(())
    }

    fn notify(&self, queue: u32) {
        // The ring stores (normal memory) must reach the device before the doorbell (device
        // memory) write that makes it look.
        fence(Ordering::SeqCst);
        self.registers.QueueNotify.set(queue);
    }

    /// Acknowledges the device's interrupt; returns the status bits it had raised.
    pub fn acknowledge_interrupt(&mut self) -> u32 {
        let raised = self.registers.InterruptStatus.get();
        self.registers.InterruptACK.set(raised);
        self.stats.interrupts += 1;
        raised
    }

    /// Takes up to `out.len()` received bytes; returns how many. Emptied buffers go back to
    /// the device at once.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let mut count = 0;
        let mut returned = false;
        while count < out.len() {
            let mut pending = match self.pending.take() {
                Some(pending) => pending,
                None => match self.receive.take_used() {
                    Some((id, length)) => Pending { id, length: length as usize, taken: 0 },
                    None => break,
                },
            };
            let wanted = (pending.length - pending.taken).min(out.len() - count);
            let buffer = self.receive.memory.buffers[usize::from(pending.id)].get();
            // SAFETY: the device returned this buffer through the used ring (the Acquire in
            // `take_used` orders its writes before this read) and gets it back only below, so
            // nothing writes it meanwhile; `taken + wanted <= length <= BUFFER_BYTES`.
            let bytes = unsafe { &(&*buffer)[pending.taken..pending.taken + wanted] };
            out[count..count + wanted].copy_from_slice(bytes);
            count += wanted;
            pending.taken += wanted;
            if pending.taken == pending.length {
                self.receive.offer(pending.id, BUFFER_BYTES as u32, VIRTQ_DESC_F_WRITE);
                returned = true;
            } else {
                self.pending = Some(pending);
            }
        }
        if returned {
            self.notify(RECEIVEQ);
        }
        self.stats.rx_bytes += count as u64;
        count
    }

    /// True when a write of up to [`BUFFER_BYTES`] would be accepted now.
    pub fn can_write(&mut self) -> bool {
        self.reclaim_transmit();
        !self.free_transmit.is_empty()
    }

    fn reclaim_transmit(&mut self) {
        while let Some((id, _)) = self.transmit.take_used() {
            self.free_transmit.push(id);
        }
    }

    /// Queues `bytes` (at most [`BUFFER_BYTES`]) for transmission. Returns false, writing
    /// nothing, when every transmit buffer is still in flight or `bytes` is too long.
    pub fn write(&mut self, bytes: &[u8]) -> bool {
        self.reclaim_transmit();
        if bytes.len() > BUFFER_BYTES {
            return false;
        }
        let Some(id) = self.free_transmit.pop() else {
            self.stats.tx_busy += 1;
            return false;
        };
        let buffer = self.transmit.memory.buffers[usize::from(id)].get();
        // SAFETY: descriptor `id` was on the free list, so the device does not own its buffer;
        // `bytes.len() <= BUFFER_BYTES`.
        unsafe { (&mut *buffer)[..bytes.len()].copy_from_slice(bytes) };
        self.transmit.offer(id, bytes.len() as u32, 0);
        self.notify(TRANSMITQ);
        self.stats.tx_bytes += bytes.len() as u64;
        true
    }

    /// Driver counters.
    pub fn stats(&self) -> ConsoleStats {
        self.stats
    }
}

/// A fixed stack of descriptor ids (no allocator in the driver crate).
mod heapless_stack {
    use super::QUEUE_SIZE;

    pub struct Stack {
        ids: [u16; QUEUE_SIZE],
        length: usize,
    }

    impl Stack {
        /// Every id, 0..QUEUE_SIZE.
        pub fn full() -> Self {
            Self { ids: core::array::from_fn(|i| i as u16), length: QUEUE_SIZE }
        }

        pub fn is_empty(&self) -> bool {
            self.length == 0
        }

        pub fn pop(&mut self) -> Option<u16> {
            self.length = self.length.checked_sub(1)?;
            Some(self.ids[self.length])
        }

        /// Ignores an id beyond capacity (a device returning a buffer twice).
        pub fn push(&mut self, id: u16) {
            if self.length < QUEUE_SIZE && !self.ids[..self.length].contains(&id) {
                self.ids[self.length] = id;
                self.length += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_layouts_follow_the_spec() {
        // §2.7: descriptor 16 bytes; available ring 6 + 2n; used ring 6 + 8n (plus padding).
        assert_eq!(core::mem::size_of::<Descriptor>(), 16);
        assert_eq!(core::mem::offset_of!(AvailableRing, ring), 4);
        assert_eq!(core::mem::offset_of!(AvailableRing, used_event), 4 + 2 * QUEUE_SIZE);
        assert_eq!(core::mem::offset_of!(UsedRing, ring), 4);
        assert_eq!(core::mem::offset_of!(UsedRing, avail_event), 4 + 8 * QUEUE_SIZE);
        assert_eq!(core::mem::offset_of!(VirtioMmioRegisters, QueueNotify), 0x50);
        assert_eq!(core::mem::offset_of!(VirtioMmioRegisters, Status), 0x70);
        assert_eq!(core::mem::offset_of!(VirtioMmioRegisters, QueueDeviceHigh), 0xa4);
    }

    #[test]
    fn a_device_returning_foreign_ids_is_not_trusted() {
        static MEMORY: QueueMemory = QueueMemory::new();
        let mut queue = Virtqueue::new(&MEMORY).unwrap();
        assert!(Virtqueue::new(&MEMORY).is_err(), "memory handed out twice");
        queue.offer(3, 100, VIRTQ_DESC_F_WRITE);
        assert_eq!(MEMORY.available.index.load(Ordering::Relaxed), 1);
        assert_eq!(MEMORY.descriptors[3].address.load(Ordering::Relaxed), MEMORY.buffer_address(3));
        // Play the device: return id 3 with 4000 bytes (more than the buffer), then id 99.
        MEMORY.used.ring[0].id.store(3, Ordering::Relaxed);
        MEMORY.used.ring[0].length.store(4000, Ordering::Relaxed);
        MEMORY.used.ring[1].id.store(99, Ordering::Relaxed);
        MEMORY.used.index.store(2, Ordering::Release);
        assert_eq!(queue.take_used(), Some((3, BUFFER_BYTES as u32)));
        assert_eq!(queue.take_used(), None);
        assert_eq!(queue.take_used(), None);
    }

    #[test]
    fn the_free_stack_never_holds_an_id_twice() {
        let mut stack = heapless_stack::Stack::full();
        stack.push(0);
        let mut seen = 0;
        while stack.pop().is_some() {
            seen += 1;
        }
        assert_eq!(seen, QUEUE_SIZE);
        stack.push(5);
        stack.push(5);
        assert_eq!(stack.pop(), Some(5));
        assert_eq!(stack.pop(), None);
    }
}
