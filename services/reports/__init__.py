"""The reports on the other targets: CO2 and its factor table (T6), LED rollout (T2), fossil phase-out (T3), energy
labels (T4) and the yearly green accounts (grønt regnskab)."""
