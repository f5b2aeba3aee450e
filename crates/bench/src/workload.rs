//! What the load generator sends: the kinds of request, their mix, their bodies and the list
//! filters, drawn from the same vocabulary as the data generator (`fill::data`) so that filters
//! hit what is there in the proportions the data has.

use std::sync::Arc;

use uuid::Uuid;

/// A small, fast, seedable generator (SplitMix64). The benchmark needs reproducible draws, not
/// cryptographic ones, and a dependency for ten lines is not worth it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The vocabulary of generated work orders (see `fill::data` for the proportions).
pub const REGIONS: [&str; 12] = [
    "North",
    "South",
    "East",
    "West",
    "Centre",
    "Paris",
    "Lyon",
    "Marseille",
    "Lille",
    "Bordeaux",
    "Nantes",
    "Toulouse",
];
/// `campaign-N`: every work order has one of these (0.5% each).
pub const CAMPAIGNS: u64 = 200;
/// `contract-N`: every work order has one of these (5% each).
pub const CONTRACTS: u64 = 20;
/// `customer_ref` metadata values: about ten work orders each per million.
pub const CUSTOMERS: u64 = 100_000;
/// Work-order types of the demo application, with their shares in percent.
pub const TYPES: [(&str, u64); 3] = [
    ("installation", 50),
    ("maintenance", 35),
    ("one-equipment", 15),
];

/// The kinds of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Create,
    Retrieve,
    Update,
    List(ListKind),
}

impl Op {
    pub fn label(&self) -> String {
        match self {
            Op::Create => "create".into(),
            Op::Retrieve => "retrieve".into(),
            Op::Update => "update".into(),
            Op::List(k) => format!("list {}", k.label()),
        }
    }

    /// The status a successful answer has.
    pub fn expected_status(&self) -> u16 {
        match self {
            Op::Create => 201,
            _ => 200,
        }
    }
}

/// The list filters the benchmark asks for, from broad to selective. Shares are of the generated
/// data (1,000,000 work orders → count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListKind {
    /// No filter: the whole site, newest first (count = every work order).
    All,
    /// One campaign tag: 0.5% (5,000).
    Tag,
    /// One region: 8.3% (83,000).
    Metadata,
    /// One customer reference: about 10 work orders.
    MetadataRare,
    /// A campaign tag and a region: 0.04% (420). The target's query.
    TagAndMetadata,
    /// A contract tag (5%) and a region: 0.4% (4,200).
    BroadTagAndMetadata,
}

impl ListKind {
    pub const ALL: [ListKind; 6] = [
        ListKind::TagAndMetadata,
        ListKind::BroadTagAndMetadata,
        ListKind::Tag,
        ListKind::Metadata,
        ListKind::MetadataRare,
        ListKind::All,
    ];

    pub fn label(&self) -> &'static str {
        match self {
            ListKind::All => "unfiltered",
            ListKind::Tag => "tag (0.5%)",
            ListKind::Metadata => "metadata (8%)",
            ListKind::MetadataRare => "metadata (10 rows)",
            ListKind::TagAndMetadata => "tag+metadata (0.04%)",
            ListKind::BroadTagAndMetadata => "tag+metadata (0.4%)",
        }
    }

    /// A query string (without `?`) for this kind, with values drawn at random.
    pub fn query(&self, rng: &mut Rng) -> String {
        let region = rng.pick(&REGIONS);
        match self {
            ListKind::All => "page_size=20".into(),
            ListKind::Tag => format!("tag=campaign-{}&page_size=20", rng.below(CAMPAIGNS)),
            ListKind::Metadata => format!("metadata.region={region}&page_size=20"),
            ListKind::MetadataRare => {
                format!(
                    "metadata.customer_ref={}&page_size=20",
                    customer_ref(rng.below(CUSTOMERS))
                )
            }
            ListKind::TagAndMetadata => format!(
                "tag=campaign-{}&metadata.region={region}&page_size=20",
                rng.below(CAMPAIGNS)
            ),
            ListKind::BroadTagAndMetadata => format!(
                "tag=contract-{}&metadata.region={region}&page_size=20",
                rng.below(CONTRACTS)
            ),
        }
    }
}

pub fn customer_ref(n: u64) -> String {
    format!("C{n:06}")
}

/// Weights of each kind of request in a phase.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(Op, u32)>);

impl Mix {
    pub fn creates() -> Self {
        Mix(vec![(Op::Create, 1)])
    }

    /// The mixed phase: 40% creates, 30% retrieves, 20% updates, 10% filtered lists.
    pub fn mixed() -> Self {
        Mix(vec![
            (Op::Create, 40),
            (Op::Retrieve, 30),
            (Op::Update, 20),
            (Op::List(ListKind::TagAndMetadata), 10),
        ])
    }

    pub fn only(op: Op) -> Self {
        Mix(vec![(op, 1)])
    }

    pub fn pick(&self, rng: &mut Rng) -> Op {
        let total: u64 = self.0.iter().map(|(_, w)| *w as u64).sum();
        let mut r = rng.below(total.max(1));
        for (op, w) in &self.0 {
            if r < *w as u64 {
                return *op;
            }
            r -= *w as u64;
        }
        self.0[0].0
    }
}

/// Ids a retrieve or an update may target before the phase created any: the ids of generated
/// data (`fill::data::work_order_id`), or none.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The seed and row count of the generated data.
    pub generated: Option<(u64, u64)>,
}

impl Known {
    pub fn draw(&self, rng: &mut Rng) -> Option<Uuid> {
        self.generated
            .filter(|(_, rows)| *rows > 0)
            .map(|(seed, rows)| crate::fill::data::work_order_id(seed, rows, rng.below(rows)))
    }
}

/// Everything a phase's requests are made of.
#[derive(Debug, Clone)]
pub struct Workload {
    pub mix: Mix,
    pub known: Arc<Known>,
    /// The email of a field engineer of the site, assigned on creates (a real lookup per create).
    pub engineer_email: Option<String>,
}

/// The JSON body of a create, like an integrator's: a name, declared and undeclared metadata,
/// two or three tags, a type and an engineer.
pub fn create_body(rng: &mut Rng, n: u64, engineer: Option<&str>) -> String {
    let region = rng.pick(&REGIONS);
    let ty = pick_type(rng);
    let priority = if rng.chance(0.1) {
        ",\"priority-high\""
    } else {
        ""
    };
    let engineer = engineer
        .map(|e| format!(",\"field_engineer_email\":\"{e}\""))
        .unwrap_or_default();
    format!(
        "{{\"name\":\"WO-{n}\",\"metadata\":{{\"region\":\"{region}\",\"intervention_date\":\"05-29-2026\",\
         \"customer_ref\":\"{}\",\"created_with\":\"bench\"}},\"tags\":[\"campaign-{}\",\"contract-{}\"{priority}],\
         \"work_order_types\":[\"{ty}\"]{engineer}}}",
        customer_ref(rng.below(CUSTOMERS)),
        rng.below(CAMPAIGNS),
        rng.below(CONTRACTS),
    )
}

/// The body of an update: new tags and metadata (both rewrite index entries).
pub fn update_body(rng: &mut Rng) -> String {
    format!(
        "{{\"tags\":[\"campaign-{}\",\"contract-{}\",\"updated\"],\"metadata\":{{\"region\":\"{}\",\"customer_ref\":\"{}\"}}}}",
        rng.below(CAMPAIGNS),
        rng.below(CONTRACTS),
        rng.pick(&REGIONS),
        customer_ref(rng.below(CUSTOMERS)),
    )
}

pub fn pick_type(rng: &mut Rng) -> &'static str {
    let mut r = rng.below(100);
    for (name, share) in TYPES {
        if r < share {
            return name;
        }
        r -= share;
    }
    TYPES[0].0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_objects() {
        let mut rng = Rng::new(1);
        for n in 0..100 {
            let v: serde_json::Value =
                serde_json::from_str(&create_body(&mut rng, n, Some("a@b.c"))).unwrap();
            assert!(v["metadata"]["region"].is_string());
            let v: serde_json::Value = serde_json::from_str(&update_body(&mut rng)).unwrap();
            assert_eq!(v["tags"].as_array().unwrap().len(), 3);
        }
    }

    #[test]
    fn draws_are_uniform_enough() {
        let mut rng = Rng::new(7);
        let mut counts = [0u32; 12];
        for _ in 0..120_000 {
            counts[rng.below(12) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
        let mix = Mix::mixed();
        let creates = (0..10_000)
            .filter(|_| mix.pick(&mut rng) == Op::Create)
            .count();
        assert!((3_600..4_400).contains(&creates), "{creates}");
    }
}
