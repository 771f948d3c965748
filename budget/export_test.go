package budget

// FollowCapsEvery is FollowCaps checking its bucket every given interval
// instead of bucket.Recheck, for tests that must not wait that long.
var FollowCapsEvery = followCaps
