#if canImport(Glibc)
    import Glibc
#endif

/// Hands memory the process has freed back to the system.
///
/// Loading a configuration decodes its pieces on every core, and glibc gives each thread an arena
/// of its own: once a load's parse trees and pieces are freed, their pages stay with the process,
/// in arenas the rest of the command (on other threads) does not allocate from. At 100,000 tenants
/// that was about a sixth of `apply`'s peak memory (scripts/bench, the peak memory rows).
enum FreedMemory {
    #if canImport(Glibc)
        /// glibc's `malloc_trim`, which Swift's Glibc module does not import (it is in `malloc.h`).
        private static let trim: (@convention(c) (Int) -> Int32)? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        }()
    #endif

    /// Returns the free pages of every arena (`malloc_trim(0)`); a no-op where glibc is not the allocator.
    static func release() {
        #if canImport(Glibc)
            _ = trim?(0)
        #endif
    }
}
