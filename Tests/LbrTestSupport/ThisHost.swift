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
    /// Online CPUs this process may run on (a cpuset, taskset or the farm's own pinning may leave fewer than are
    /// online, and not CPU 0): the CPUs a test may put a guest or a pinned thread on.
    public static let usableCpus: [Int] = {
        let allowed = CpuAffinity.allowed()
        guard let online = profile.topology.onlineCpus.value else { return allowed }
        return allowed.filter(online.contains)
    }()
    /// The CPU tests probe on when any will do: the first usable one.
    public static var cpu: Int { usableCpus.first ?? 0 }
    public static func deadline(_ seconds: UInt64 = 20) -> UInt64 { monotonicNs() + seconds * 1_000_000_000 }
}
