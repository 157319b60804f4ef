"""Pure metric functions with no genrec dependencies: text overlap (BLEU, ROUGE) and rating parsing."""
