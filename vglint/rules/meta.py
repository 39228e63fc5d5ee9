"""Findings about vglint's ability to read the code at all; the engine reports them itself."""

from __future__ import annotations

from vglint.findings import Severity
from vglint.rules.base import Invalid, Rule


class SyntaxError_(Rule):
    """
    ## What it does
    Reports a file that vglint cannot read or parse: invalid Python syntax, bytes that are not
    valid in the file's encoding (UTF-8 unless a PEP 263 coding cookie says otherwise), NUL bytes,
    nesting too deep for the parser, or a file that cannot be opened.

    ## Why is this bad?
    vglint cannot check a file it cannot parse, so every other risk in it goes unreported.
    The rest of the run goes on: other files are checked as usual.

    ## Example
    ```python
    class Net(nn.Module)
        def forward(self, x):
            return x
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def forward(self, x):
            return x
    ```

    ## References
    - [PEP 263: Defining Python Source Code Encodings](https://peps.python.org/pep-0263/)
    """

    code = "VG001"
    name = "syntax-error"
    severity = Severity.ERROR
    message = "file cannot be checked: {detail}"
    fix = "fix the syntax or encoding so the file can be parsed"
    summary = "a file cannot be read or parsed"
    example_lines = (1,)
    invalid = (Invalid("class Net(nn.Module)\n    pass\n", line=1),)
    valid = ("class Net(nn.Module):\n    pass\n",)


class ModelBuildFailed(Rule):
    """
    ## What it does
    Reports a model that graph or probe mode could not import, build or run.

    ## Why is this bad?
    A model that cannot be built cannot be inspected or probed, so its static findings stay
    unconfirmed. The message carries the exception that stopped it.

    ## Example
    A model whose constructor needs arguments that the configuration does not give.

    ## Use instead
    Give the model's arguments and input shape in `[tool.vglint]`, or leave it to static checks.

    ## References
    - [PyTorch: nn.Module](https://pytorch.org/docs/stable/generated/torch.nn.Module.html)
    """

    code = "VG002"
    name = "model-build-failed"
    severity = Severity.WARNING
    message = "could not build model: {detail}"
    fix = "give the model's constructor arguments and input shape in [tool.vglint]"
    summary = "graph/probe mode could not import, build or run a model"
    measured = True
