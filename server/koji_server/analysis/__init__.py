"""What runs in the analysis processes: the quality gate, insights, themes and
the study synthesis. The server process never imports this package (it pulls
in scikit-learn, the embeddings and the lexicons); see pipeline/executor.py."""
