"""What is built with the model: RAG, structured generation, tools, agents, security, the portal, the tutor
stack, spaced repetition."""
