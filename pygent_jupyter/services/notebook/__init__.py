"""Notebook-native agents: they see the notebook and the kernel, and act only with approval.

- ``chat_message.attachments`` (the active notebook, cells, files read through the server's
  ContentsManager, kernel variable summaries) become one bounded context item
  (:mod:`.context`), each within a character budget and marked when truncated.
- The notebook tools (``notebook_insert_cell``, ``notebook_replace_cell``,
  ``notebook_delete_cell``, ``notebook_run_cell``, ``notebook_create``) are offered through
  the agents' tool loop to a chat whose client attached a notebook. A call becomes an
  ``agent_action_request`` to that client only; its ``agent_action_result`` decides, and the
  model reads the outcome. Unanswered proposals expire (``agent_action_expired``).
- Applied actions go to the journal (:mod:`.journal`); ``agent_undo`` plans the inverse, which
  the client applies on its live notebook and confirms with ``agent_undo_done``.
"""

from __future__ import annotations

from .service import ActionError, NotebookAgent, NotebookService

__all__ = ["ActionError", "NotebookAgent", "NotebookService"]
