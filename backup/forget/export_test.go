package forget

// ShortDuration is shortDuration for the tests' reference model.
var ShortDuration = shortDuration
