// The guest payload's control-flow edges as a set of (FROM, TO) pairs an LBR entry can hold: the exact-match
// detector of guest branches in host samples (docs/reference.md §9.7). An address range alone would also count
// host entries that happen to fall into the guest's identity-mapped low addresses; an exact edge match cannot.

/// The LBR entries the guest payload can produce.
public struct GuestEdgeSet: Hashable, Sendable {
    struct Pair: Hashable, Sendable { var from: UInt64; var to: UInt64 }
    private var pairs: Set<Pair> = []
    private var retSites: Set<UInt64> = []
    private var returnPoints: Set<UInt64> = []

    /// - Parameter edges: every branch, call and ret of the payload: a ret has `isRet` (its TO is whichever
    ///   call's return point it returns to), a call its `returnPoint`.
    public init(edges: [(from: UInt64, to: UInt64, returnPoint: UInt64, isRet: Bool)]) {
        for e in edges {
            if e.isRet { retSites.insert(e.from) } else { pairs.insert(Pair(from: e.from, to: e.to)) }
            if e.returnPoint != 0 { returnPoints.insert(e.returnPoint) }
        }
    }

    /// Whether an LBR entry FROM -> TO is one of the payload's edges.
    public func contains(from: UInt64, to: UInt64) -> Bool {
        pairs.contains(Pair(from: from, to: to)) || (retSites.contains(from) && returnPoints.contains(to))
    }

    /// Number of distinct edges (branches and calls; rets counted once per site).
    public var count: Int { pairs.count + retSites.count }
}
