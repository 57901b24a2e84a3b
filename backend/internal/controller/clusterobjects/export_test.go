package clusterobjects

// PolicyGrace is policyGrace, for the package's tests.
const PolicyGrace = policyGrace
