// The idealised rules the verdict engine used before hardware artefacts were understood (docs/reference.md §9):
// kept for the tests that show what they would conclude on hardware-shaped data; nothing in lbrprobe uses them.

/// The old, idealised verdict rules.
public enum IdealisedRules {
    /// A TOS write sticks only when the readback is exactly `written & mask` (real hardware reads back
    /// (value + k) & mask after k recorded branches, §9.3).
    public static func tosSticks(written: UInt64, readback: UInt64, tosMask: UInt64) -> Bool {
        let expected = written & tosMask
        return expected != 0 && readback == expected
    }

    /// The host is starved when more than half of its LBR samples are empty (real starved samples are stale
    /// repeats, §9.1).
    public static func hostStarved(samples: Int, empty: Int) -> Bool { empty * 2 > samples }
}
