"""What a local operator does through koji-admin, without an API key:
projects, keys and studies; webhook endpoints and redelivery; re-analysis.
(Completing an interview without its session token stays with the other
completions, `InterviewService.complete_as_operator`.)"""
