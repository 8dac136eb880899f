//! The memory pool behind `--memory-limit`: DataFusion's `FairSpillPool`, except that while
//! the query holds less than half of the limit, an operator that can spill takes what it asks.
//!
//! The fair pool alone holds every spillable operator (each sort, aggregation and repartition,
//! per partition) to an equal share of the limit from the first byte. A plan has a dozen of
//! them, most nearly idle, so under the default limit of half the machine the beaconing rule's
//! `serialize` sort spilled while the query used a tenth of the limit, and ran a fifth slower
//! than without a limit. A first-come pool (DataFusion's greedy one) avoided that but failed
//! the same rule under a 400 MB limit: one partition's sort held what the other's merge needed.
//! Here the first half of the limit is first come, first served; past it every spillable
//! operator is held to its fair share again, so it spills and leaves room for the operators
//! that cannot.

use std::fmt;

use datafusion::common::Result;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};

#[derive(Debug)]
pub struct RelaxedFairPool {
    fair: FairSpillPool,
    /// Below this much memory in use, a spillable operator's request is granted whole.
    relaxed_below: usize,
}

impl RelaxedFairPool {
    pub fn new(limit: usize) -> RelaxedFairPool {
        RelaxedFairPool { fair: FairSpillPool::new(limit), relaxed_below: limit / 2 }
    }
}

impl fmt::Display for RelaxedFairPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fair)
    }
}

impl MemoryPool for RelaxedFairPool {
    fn name(&self) -> &str {
        self.fair.name()
    }
    fn register(&self, consumer: &MemoryConsumer) {
        self.fair.register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.fair.unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.fair.grow(reservation, additional)
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.fair.shrink(reservation, shrink)
    }
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        // `grow` books the memory in the fair pool's own accounts, so its rules see it once
        // the query passes half the limit. Two operators may pass this check at once; each
        // overshoots the half by at most its one request, still within the limit's other half.
        if reservation.consumer().can_spill() && self.fair.reserved().saturating_add(additional) <= self.relaxed_below {
            self.fair.grow(reservation, additional);
            return Ok(());
        }
        self.fair.try_grow(reservation, additional)
    }
    fn reserved(&self) -> usize {
        self.fair.reserved()
    }
    fn memory_limit(&self) -> MemoryLimit {
        self.fair.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_spiller_takes_freely_below_half_and_its_fair_share_above() {
        let pool: Arc<dyn MemoryPool> = Arc::new(RelaxedFairPool::new(1000));
        let sort = MemoryConsumer::new("sort").with_can_spill(true).register(&pool);
        let _idle = (0..9).map(|i| MemoryConsumer::new(format!("idle{i}")).with_can_spill(true).register(&pool)).collect::<Vec<_>>();
        // Ten spillers: the fair pool alone would stop `sort` at 100 bytes.
        sort.try_grow(400).expect("below half of the limit, granted whole");
        assert_eq!(pool.reserved(), 400);
        // Past half, the fair share (1000 / 10) rules, and 400 is already above it: spill.
        assert!(sort.try_grow(200).is_err());
        // An operator that cannot spill still gets what is left.
        let merge = MemoryConsumer::new("merge").register(&pool);
        merge.try_grow(600).expect("the rest of the limit");
        assert!(merge.try_grow(1).is_err());
        sort.free();
        merge.free();
        assert_eq!(pool.reserved(), 0);
    }
}
