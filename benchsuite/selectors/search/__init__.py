"""Search methods and what every search shares: the budgeted oracle that answers validation
accuracy for the cells a method picks (``oracle.py``), the moves over the cells the benchmark
covers (``domain.py``), and the baselines random search and regularised evolution."""
