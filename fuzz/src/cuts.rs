//! Ways of cutting one body into feeds. The pieces come from a generator seeded by the body itself,
//! so that a finding replays from its input file alone, and every mutation of the body also changes
//! where it is cut.

/// SplitMix64: small, and good enough to spread cut points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// FNV-1a of the body: the seed of its cuttings.
pub fn seed_of(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3))
}

/// Random piece lengths: mostly short (every boundary of a line ending, a BOM or a `data:` gets
/// hit), sometimes long, sometimes empty feeds.
pub fn random_pieces<'a>(body: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let length = match rng.below(8) {
            0 => 0,
            1 => rng.below(256) as usize,
            _ => 1 + rng.below(12) as usize,
        };
        let (piece, tail) = rest.split_at(length.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// The cuttings every stream target compares: whole, two random cuttings, byte by byte.
pub fn cuttings(body: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut rng = Rng::new(seed_of(body));
    vec![vec![body], random_pieces(body, &mut rng), random_pieces(body, &mut rng), body.chunks(1).collect()]
}
