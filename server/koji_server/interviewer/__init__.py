"""The interviewer's ear and voice: reading answers, and a language model's wording."""
