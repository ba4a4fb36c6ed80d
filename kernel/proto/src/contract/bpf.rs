//! The contract's map definitions as the eBPF engine's, one conversion for the kernel (which
//! builds maps from a `bpf_load` request) and the host (which checks a program against the
//! maps it will push).

use super::tools::{MapKind, MapSpec};

impl From<MapKind> for kingly_bpf::MapKind {
    fn from(kind: MapKind) -> Self {
        match kind {
            MapKind::Hash => Self::Hash,
            MapKind::Array => Self::Array,
            MapKind::PercpuArray => Self::PerCpuArray,
        }
    }
}

impl From<kingly_bpf::MapKind> for MapKind {
    fn from(kind: kingly_bpf::MapKind) -> Self {
        match kind {
            kingly_bpf::MapKind::Hash => Self::Hash,
            kingly_bpf::MapKind::Array => Self::Array,
            kingly_bpf::MapKind::PerCpuArray => Self::PercpuArray,
        }
    }
}

impl From<&MapSpec> for kingly_bpf::MapDef {
    fn from(spec: &MapSpec) -> Self {
        Self {
            kind: spec.kind.into(),
            key_size_bytes: spec.key_size,
            value_size_bytes: spec.value_size,
            max_entries: spec.max_entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_kinds_convert_both_ways() {
        for kind in [MapKind::Hash, MapKind::Array, MapKind::PercpuArray] {
            assert_eq!(MapKind::from(kingly_bpf::MapKind::from(kind)), kind);
        }
    }
}
