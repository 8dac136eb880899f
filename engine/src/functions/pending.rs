//! Values a group of kql's own aggregates (`collect`, `bag`) has been given but not yet taken
//! in: bytes, each value after its length (4 bytes, little-endian). Appending a value is one
//! copy with no lookup; the group takes its pending values in together when their room is full,
//! which keeps each group's work in the cache (a lookup per row, with thousands of groups, lands
//! each time in another group's table and misses it).

/// The least room a group keeps for pending values.
pub const MIN_ROOM: usize = 1024;

/// The room `value` takes when appended; `None` for a value of 4 GiB or more, whose length does
/// not fit (far past what the memory limit and Arrow's 32-bit string offsets let through).
pub fn room(value: &[u8]) -> Option<usize> {
    u32::try_from(value.len()).ok().map(|_| 4 + value.len())
}

/// Appends `value`, whose `room` the caller has checked.
pub fn push(pending: &mut Vec<u8>, value: &[u8]) {
    pending.extend_from_slice(&(value.len() as u32).to_le_bytes());
    pending.extend_from_slice(value);
}

/// The values of `pending`, in the order they were appended.
pub fn values(pending: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = pending;
    std::iter::from_fn(move || {
        let (len, after) = rest.split_first_chunk::<4>()?;
        let (value, after) = after.split_at_checked(u32::from_le_bytes(*len) as usize)?;
        rest = after;
        Some(value)
    })
}
