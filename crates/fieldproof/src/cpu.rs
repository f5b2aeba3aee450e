//! The x86-64 instruction-set extensions this binary was compiled to use, checked against the
//! CPU it starts on.
//!
//! The workspace's `.cargo/config.toml` builds x86-64 binaries for the x86-64-v3 level (AVX2,
//! FMA, BMI1/2, LZCNT, MOVBE, F16C: Intel from 2013, AMD from 2015). Started on an older CPU,
//! such a binary would die of an illegal instruction somewhere in its first vector loop, with
//! no word of why. [`missing`] lists what the build assumes and this CPU lacks, so that `main`
//! can say so and how to rebuild before anything else runs (docs/DEPLOYMENT.md, "CPU").
//!
//! A build for plain x86-64 (`RUSTFLAGS="-C target-cpu=x86-64"`) assumes none of them and
//! passes on any x86-64 CPU; other architectures have nothing to check here.

// Elsewhere than on x86-64 only `missing` and `refusal` are used.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

/// The extensions this binary was compiled to use that the CPU does not report, by name.
pub fn missing() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        missing_from(&Cpuid::read())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// The message `main` prints when [`missing`] is not empty.
pub fn refusal(missing: &[&str]) -> String {
    format!(
        "this fieldproof binary was built for x86-64-v3 CPUs (AVX2 and FMA: Intel Haswell of \
         2013, AMD Excavator of 2015 or later), and this CPU lacks {}. Rebuild it for any \
         x86-64 CPU with: RUSTFLAGS=\"-C target-cpu=x86-64\" cargo build --release -p fieldproof \
         (the photo analyses then take about 14 % more CPU time; docs/DEPLOYMENT.md, \"CPU\")",
        missing.join(", ")
    )
}

/// The `cpuid` registers that report the extensions x86-64-v3 adds, indexed by [`Reg`]; a leaf
/// the CPU does not have reads as 0.
#[derive(Debug, Clone, Copy, Default)]
struct Cpuid([u32; 3]);

#[cfg(target_arch = "x86_64")]
impl Cpuid {
    fn read() -> Cpuid {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        let max_leaf = __cpuid(0).eax;
        let max_ext = __cpuid(0x8000_0000).eax;
        let mut cpu = Cpuid::default();
        cpu.0[Reg::Leaf1Ecx as usize] = __cpuid(1).ecx;
        if max_leaf >= 7 {
            cpu.0[Reg::Leaf7Ebx as usize] = __cpuid_count(7, 0).ebx;
        }
        if max_ext >= 0x8000_0001 {
            cpu.0[Reg::Ext1Ecx as usize] = __cpuid(0x8000_0001).ecx;
        }
        cpu
    }
}

/// Which `cpuid` register reports an extension.
#[derive(Debug, Clone, Copy)]
enum Reg {
    /// Leaf 1, ECX.
    Leaf1Ecx = 0,
    /// Leaf 7 sub-leaf 0, EBX.
    Leaf7Ebx = 1,
    /// Leaf 0x8000_0001, ECX.
    Ext1Ecx = 2,
}

impl Cpuid {
    fn has(&self, reg: Reg, bit: u32) -> bool {
        self.0[reg as usize] >> bit & 1 == 1
    }
}

/// Each extension: its name, whether this build uses it, and where `cpuid` reports it.
const REQUIRED: [(&str, bool, Reg, u32); 9] = [
    // The operating system saves the AVX registers (without it, AVX instructions fault).
    ("OSXSAVE", cfg!(target_feature = "avx"), Reg::Leaf1Ecx, 27),
    ("AVX", cfg!(target_feature = "avx"), Reg::Leaf1Ecx, 28),
    ("AVX2", cfg!(target_feature = "avx2"), Reg::Leaf7Ebx, 5),
    ("FMA", cfg!(target_feature = "fma"), Reg::Leaf1Ecx, 12),
    ("BMI1", cfg!(target_feature = "bmi1"), Reg::Leaf7Ebx, 3),
    ("BMI2", cfg!(target_feature = "bmi2"), Reg::Leaf7Ebx, 8),
    ("LZCNT", cfg!(target_feature = "lzcnt"), Reg::Ext1Ecx, 5),
    ("MOVBE", cfg!(target_feature = "movbe"), Reg::Leaf1Ecx, 22),
    ("F16C", cfg!(target_feature = "f16c"), Reg::Leaf1Ecx, 29),
];

fn missing_from(cpu: &Cpuid) -> Vec<&'static str> {
    REQUIRED
        .iter()
        .filter(|&&(_, used, reg, bit)| used && !cpu.has(reg, bit))
        .map(|&(name, ..)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The extensions this build uses.
    fn used() -> Vec<&'static str> {
        REQUIRED
            .iter()
            .filter(|&&(_, used, ..)| used)
            .map(|&(name, ..)| name)
            .collect()
    }

    /// A CPU that reports every extension of the table.
    fn every_extension() -> Cpuid {
        let mut cpu = Cpuid::default();
        for &(_, _, reg, bit) in &REQUIRED {
            cpu.0[reg as usize] |= 1 << bit;
        }
        cpu
    }

    #[test]
    fn this_machine_has_what_this_build_uses() {
        assert_eq!(missing(), Vec::<&str>::new());
    }

    #[test]
    fn a_cpu_that_reports_nothing_lacks_everything_the_build_uses() {
        assert_eq!(missing_from(&Cpuid::default()), used());
    }

    #[test]
    fn the_bits_are_where_intel_and_amd_document_them() {
        // Leaf 1 ECX of a Haswell (family 6, model 0x3C) as Linux reads it, leaf 7 EBX, and
        // leaf 0x80000001 ECX: every x86-64-v3 extension is there.
        let haswell = Cpuid([0x7FFA_FBFF, 0x0000_27AB, 0x0000_0021]);
        assert!(missing_from(&haswell).is_empty());
        // A Sandy Bridge has AVX, but not AVX2, FMA, BMI, LZCNT, MOVBE or F16C.
        let sandy_bridge = Cpuid([0x1FBA_E3FF, 0, 0x0000_0001]);
        let lacks = missing_from(&sandy_bridge);
        for name in used() {
            let expected = !matches!(name, "OSXSAVE" | "AVX");
            assert_eq!(lacks.contains(&name), expected, "{name}: {lacks:?}");
        }
    }

    #[test]
    fn each_extension_is_read_from_its_own_bit() {
        assert!(missing_from(&every_extension()).is_empty());
        for &(name, used, reg, bit) in &REQUIRED {
            let mut cpu = every_extension();
            cpu.0[reg as usize] &= !(1 << bit);
            let expected: Vec<&str> = if used { vec![name] } else { vec![] };
            assert_eq!(missing_from(&cpu), expected, "{name}");
        }
    }

    #[test]
    fn the_refusal_names_what_is_missing_and_how_to_rebuild() {
        let m = refusal(&["AVX2", "FMA"]);
        assert!(m.contains("lacks AVX2, FMA."), "{m}");
        assert!(m.contains("RUSTFLAGS=\"-C target-cpu=x86-64\""), "{m}");
    }
}
