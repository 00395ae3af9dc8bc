import LbrBackends
import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios

/// This machine, probed once, for the test targets' preconditions.
public enum ThisHost {
    public static let profile: HostProfile = HostProbe(mountTracefs: false).probe()
    public static let hybridAvailability = HybridBackend(variant: .mainline, profile: profile).availability()
    public static var hybridAvailable: Bool { hybridAvailability.isAvailable }
    public static var cpu: Int { profile.topology.onlineCpus.value?.first ?? 0 }
    public static func deadline(_ seconds: UInt64 = 20) -> UInt64 { monotonicNs() + seconds * 1_000_000_000 }
}
