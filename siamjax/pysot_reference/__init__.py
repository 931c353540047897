"""Running the pysot reference (needs a pysot checkout and torch) and the golden outputs
recorded from it, which the default tests compare against without either."""
