"""Tools over whole campaigns: `alflow simulate` (strategies replayed with an answer key) and `alflow demo`."""
