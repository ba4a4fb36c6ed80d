//! Helper functions: prototypes the verifier checks and implementations the interpreter calls.
//! Numbers follow Linux where one exists (`include/uapi/linux/bpf.h`, `__BPF_FUNC_MAPPER`).

use core::fmt;

use crate::env::{Platform, RunErrorKind};
use crate::memory::{self, Memory};

/// What a helper argument register must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// Not read.
    Unused,
    /// Any initialised scalar.
    Scalar,
    /// Any initialised value; pointers are allowed (e.g. the conformance unwind helper).
    Anything,
    /// A map handle from `lddw rX, map N`.
    MapHandle,
    /// Pointer to readable memory holding a key of the map passed in r1.
    MapKey,
    /// Pointer to readable memory holding a value of the map passed in r1.
    MapValue,
}

/// What a helper leaves in r0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetType {
    /// An unknown scalar.
    Scalar,
    /// A scalar in this inclusive unsigned range.
    ScalarRange(u64, u64),
    /// A pointer to a value of the map passed in r1, or NULL.
    MapValueOrNull,
}

/// A helper's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperProto {
    pub args: [ArgType; 5],
    pub ret: RetType,
}

/// What a helper asks the interpreter to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperOutcome {
    /// Continue with this value in r0.
    Return(u64),
    /// Stop the program with this value in r0.
    Exit(u64),
}

/// What a helper can reach while it runs.
pub struct HelperEnv<'m, 'a> {
    pub mem: &'m mut Memory<'a>,
    pub platform: &'m mut dyn Platform,
}

/// A helper implementation; arguments are r1..=r5.
pub type HelperFn = fn(&mut HelperEnv<'_, '_>, [u64; 5]) -> Result<HelperOutcome, RunErrorKind>;

/// One entry of a program type's helper table.
#[derive(Clone, Copy)]
pub struct Helper {
    pub id: u32,
    pub name: &'static str,
    pub proto: HelperProto,
    pub func: HelperFn,
}

impl fmt::Debug for Helper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Helper({} {})", self.id, self.name)
    }
}

/// Linux helper numbers used here.
pub mod id {
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const KTIME_GET_NS: u32 = 5;
    pub const GET_PRANDOM_U32: u32 = 7;
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    /// The conformance suite's unwind helper reuses number 5.
    pub const CONFORMANCE_UNWIND: u32 = 5;
}

use ArgType::{MapHandle, MapKey, MapValue, Scalar, Unused};

const fn proto(args: [ArgType; 5], ret: RetType) -> HelperProto {
    HelperProto { args, ret }
}

fn map_and_key(
    env: &mut HelperEnv<'_, '_>,
    handle: u64,
    key_addr: u64,
) -> Result<(usize, [u8; 64], usize), RunErrorKind> {
    let index = memory::map_index_of_handle(handle).ok_or(RunErrorKind::HelperFault)?;
    let key_size = env.mem.maps.get(index).ok_or(RunErrorKind::HelperFault)?.def().key_size_bytes as usize;
    let mut key = [0u8; 64];
    if key_size > key.len() {
        return Err(RunErrorKind::HelperFault);
    }
    let src = env.mem.bytes_mut(key_addr, key_size).ok_or(RunErrorKind::HelperFault)?;
    key[..key_size].copy_from_slice(src);
    Ok((index, key, key_size))
}

fn map_lookup_elem(env: &mut HelperEnv<'_, '_>, args: [u64; 5]) -> Result<HelperOutcome, RunErrorKind> {
    let (index, key, key_size) = map_and_key(env, args[0], args[1])?;
    let cpu = env.platform.smp_processor_id();
    let map = &env.mem.maps[index];
    let found = map.lookup_offset(&key[..key_size], cpu).ok().flatten();
    let addr = found.map_or(0, |off| memory::region_base(memory::MAP_REGION_FIRST + index as u64) + off as u64);
    Ok(HelperOutcome::Return(addr))
}

fn map_update_elem(env: &mut HelperEnv<'_, '_>, args: [u64; 5]) -> Result<HelperOutcome, RunErrorKind> {
    let (index, key, key_size) = map_and_key(env, args[0], args[1])?;
    let value_size = env.mem.maps[index].def().value_size_bytes as usize;
    // Copy the value out first: it may live in the same map.
    let mut value = alloc::vec![0u8; value_size];
    value.copy_from_slice(env.mem.bytes_mut(args[2], value_size).ok_or(RunErrorKind::HelperFault)?);
    let cpu = env.platform.smp_processor_id();
    let result = env.mem.maps[index].update(&key[..key_size], &value, args[3], cpu);
    Ok(HelperOutcome::Return(match result {
        Ok(()) => 0,
        Err(e) => e.errno() as u64,
    }))
}

fn map_delete_elem(env: &mut HelperEnv<'_, '_>, args: [u64; 5]) -> Result<HelperOutcome, RunErrorKind> {
    let (index, key, key_size) = map_and_key(env, args[0], args[1])?;
    Ok(HelperOutcome::Return(match env.mem.maps[index].delete(&key[..key_size]) {
        Ok(()) => 0,
        Err(e) => e.errno() as u64,
    }))
}

fn ktime_get_ns(env: &mut HelperEnv<'_, '_>, _: [u64; 5]) -> Result<HelperOutcome, RunErrorKind> {
    Ok(HelperOutcome::Return(env.platform.ktime_get_ns()))
}

fn get_prandom_u32(env: &mut HelperEnv<'_, '_>, _: [u64; 5]) -> Result<HelperOutcome, RunErrorKind> {
    Ok(HelperOutcome::Return(env.platform.prandom_u32() as u64))
}

fn get_smp_processor_id(env: &mut HelperEnv<'_, '_>, _: [u64; 5]) -> Result<HelperOutcome, RunErrorKind> {
    Ok(HelperOutcome::Return(env.platform.smp_processor_id() as u64))
}

fn conformance_unwind(_: &mut HelperEnv<'_, '_>, args: [u64; 5]) -> Result<HelperOutcome, RunErrorKind> {
    Ok(if args[0] == 0 { HelperOutcome::Exit(0) } else { HelperOutcome::Return(args[0]) })
}

pub const MAP_LOOKUP_ELEM: Helper = Helper {
    id: id::MAP_LOOKUP_ELEM,
    name: "map_lookup_elem",
    proto: proto([MapHandle, MapKey, Unused, Unused, Unused], RetType::MapValueOrNull),
    func: map_lookup_elem,
};
pub const MAP_UPDATE_ELEM: Helper = Helper {
    id: id::MAP_UPDATE_ELEM,
    name: "map_update_elem",
    proto: proto([MapHandle, MapKey, MapValue, Scalar, Unused], RetType::Scalar),
    func: map_update_elem,
};
pub const MAP_DELETE_ELEM: Helper = Helper {
    id: id::MAP_DELETE_ELEM,
    name: "map_delete_elem",
    proto: proto([MapHandle, MapKey, Unused, Unused, Unused], RetType::Scalar),
    func: map_delete_elem,
};
pub const KTIME_GET_NS: Helper = Helper {
    id: id::KTIME_GET_NS,
    name: "ktime_get_ns",
    proto: proto([Unused; 5], RetType::Scalar),
    func: ktime_get_ns,
};
pub const GET_PRANDOM_U32: Helper = Helper {
    id: id::GET_PRANDOM_U32,
    name: "get_prandom_u32",
    proto: proto([Unused; 5], RetType::ScalarRange(0, u32::MAX as u64)),
    func: get_prandom_u32,
};
pub const GET_SMP_PROCESSOR_ID: Helper = Helper {
    id: id::GET_SMP_PROCESSOR_ID,
    name: "get_smp_processor_id",
    proto: proto([Unused; 5], RetType::ScalarRange(0, u32::MAX as u64)),
    func: get_smp_processor_id,
};
pub const CONFORMANCE_UNWIND: Helper = Helper {
    id: id::CONFORMANCE_UNWIND,
    name: "unwind",
    // It returns its argument: a pointer passed in would come back as a number.
    proto: proto([Scalar, Unused, Unused, Unused, Unused], RetType::Scalar),
    func: conformance_unwind,
};

/// The Linux-numbered helper set (maps, time, random, CPU id).
pub static STANDARD_HELPERS: &[Helper] =
    &[MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, KTIME_GET_NS, GET_PRANDOM_U32, GET_SMP_PROCESSOR_ID];

/// The `conformance` type: maps plus the suite's unwind as helper 5.
pub static CONFORMANCE_HELPERS: &[Helper] =
    &[MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, CONFORMANCE_UNWIND, GET_PRANDOM_U32, GET_SMP_PROCESSOR_ID];
