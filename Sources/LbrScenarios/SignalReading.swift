// One signal's reading in one phase, with the samples behind a sample-based vote.

/// The samples a sample-based vote stands on: `samples` is N (the kept host LBR samples the vote counts),
/// `matching` how many of them showed the voted-for signature (e.g. exact stale repeats). A vote needs
/// N >= `VerdictEngine.minimumHostSamples`; below it the signal abstains (docs/reference.md §9.6).
public struct SampleVote: Hashable, Sendable, Codable {
    public var samples: Int
    public var matching: Int
    public init(samples: Int, matching: Int) { self.samples = samples; self.matching = matching }
    /// matching / samples (0 when there are no samples).
    public var share: Double { samples > 0 ? Double(matching) / Double(samples) : 0 }
    /// "38/40 (95%)".
    public var text: String { "\(matching)/\(samples) (\(Int((share * 100).rounded()))%)" }
}

/// One signal's reading in one phase.
public struct SignalReading: Hashable, Sendable, Codable {
    public var kind: SignalKind
    public var vote: InferredVlbr
    public var evidence: String
    /// For a vote that rests on host samples: its N and share; nil for every other signal.
    public var sampleVote: SampleVote?
    public init(kind: SignalKind, vote: InferredVlbr, evidence: String, sampleVote: SampleVote? = nil) {
        self.kind = kind; self.vote = vote; self.evidence = evidence; self.sampleVote = sampleVote
    }
}
